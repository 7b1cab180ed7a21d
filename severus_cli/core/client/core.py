"""The participant's side of the chat, sans-IO: registration, rooms, requests, heartbeat,
and end-to-end encryption of everything said.

User actions (say, tell, join, ...) queue packets and return events for the screen;
packets from the host become events. Room messages are sealed with our sender key and
private messages go through a pairwise session (:mod:`severus_cli.core.e2e`), so the
host only ever relays ciphertext. Time comes in as ``now``; :meth:`tick` sends
heartbeats and notices a host that stopped answering.

The state and shared steps live in :mod:`~severus_cli.core.client.state`, the host's
packets are handled in :mod:`~severus_cli.core.client.inbound`; this module adds what
the user does.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.client.inbound import HostPackets
from severus_cli.core.client.rename import ask_rename
from severus_cli.core.client.state import CLIENT_NAME as CLIENT_NAME
from severus_cli.core.client.state import COUNTED as COUNTED
from severus_cli.core.client.state import MAX_TEXT_BYTES as MAX_TEXT_BYTES
from severus_cli.core.client.text_limits import SEAL_OVERHEAD as SEAL_OVERHEAD
from severus_cli.core.client.text_limits import check_text
from severus_cli.core.client.verify_notes import verify_notes
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.core.trust.peer_trust import blocked_notice
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY

QUIT_REASON_MAX = p.MAX_SHORT - len("quit: ")  # the host passes it on as "quit: REASON"


class ClientCore(HostPackets):
    """One participant's view of a host: what the user does, and the heartbeat."""

    # --- user actions ------------------------------------------------------------

    def say(
        self, text: str, now: float, action: bool = False, room: str | None = None
    ) -> list[ev.UiEvent]:
        if not self.roster_known:  # sealed once we know whom its key must reach
            return self.hold_until_known(lambda later: self.say(text, later, action, room))
        if self.renaming.pending:  # sealed after the rename, under the new nick's keys
            return self.renaming.hold(lambda later: self.say(text, later, action, room))
        target = room or self.current_room
        problem = self._check_text(text, now)
        if problem:
            return [problem]
        shown = self.membership.settle(self.roster, self.nick, now)  # before any key goes
        members, skipped = self.peers.recipients(target, self.roster.members(target))
        relays, data = self.keyring.seal(target, members, ChatBody(text, action))
        self._relay(relays, now)
        self.requests.ask(
            p.Seal(self.requests.new_id(), target, data), "seal", now, target, paced=True
        )
        own = ev.ChatMessage(now, self.nick, target, text, action, own=True)
        unread = [ev.Notice(now, notice, "warn") for notice in skipped]
        return [*shown, own, *unread, *self._held_back(now)]

    def tell(self, nick: str, text: str, now: float, action: bool = False) -> list[ev.UiEvent]:
        if not self.roster_known:
            return self.hold_until_known(lambda later: self.tell(nick, text, later, action))
        if self.renaming.pending:
            return self.renaming.hold(lambda later: self.tell(nick, text, later, action))
        key = self.roster.key_of(nick)
        if not p.valid_nick(nick) or key is None:
            return [ev.Notice(now, f"nobody is called {nick}", "error")]
        problem = self._check_text(text, now)
        if problem:
            return [problem]
        peer = self.roster.name_of(nick)
        if key == self.key and nick.casefold() == self.nick.casefold():
            # A note to ourselves: no session to open with our own key, nothing to send.
            return [ev.DirectMessage(now, peer, text, action, own=True)]
        if self.peers.blocked(peer, key):
            return [ev.Notice(now, blocked_notice(peer), "error")]
        self._relay(self.keyring.direct(peer, key, ChatBody(text, action)), now)
        return [ev.DirectMessage(now, peer, text, action, own=True), *self._held_back(now)]

    def _check_text(self, text: str, now: float) -> ev.Notice | None:
        return check_text(text, self.limits, now)

    def join(self, room: str, now: float) -> list[ev.UiEvent]:
        room = room.removeprefix("#")
        if not p.valid_room(room):
            return [ev.Notice(now, "room names are 1-32 of letters, digits, _ . -", "error")]
        if room.casefold() in self.rooms or room.casefold() == LOBBY:
            self.current_room = self.rooms.get(room.casefold(), LOBBY)
            return [ev.RoomChanged(now, self.current_room, ())]
        self.requests.ask(p.Join(self.requests.new_id(), room), "join", now, room)
        return []

    def part(self, now: float, room: str | None = None) -> list[ev.UiEvent]:
        target = (room or self.current_room).removeprefix("#")
        if target.casefold() == LOBBY:
            return [ev.Notice(now, "you are in the lobby; /quit to leave the host", "info")]
        if target.casefold() not in self.rooms:
            return [ev.Notice(now, f"you are not in {target}", "error")]
        name = self.rooms.pop(target.casefold())
        self.roster.leave(name)
        self.keyring.left_room(name)
        self.requests.ask(p.Part(self.requests.new_id(), name), "part", now, name)
        if self.current_room.casefold() == target.casefold():
            self.current_room = LOBBY
        return [ev.RoomChanged(now, self.current_room, ())]

    def names(self, now: float, room: str | None = None) -> list[ev.UiEvent]:
        target = room or self.current_room
        self.requests.ask(p.Names(self.requests.new_id(), target), "names", now, target)
        return []

    def list_rooms(self, now: float) -> list[ev.UiEvent]:
        self.requests.ask(p.ListRooms(self.requests.new_id()), "rooms", now)
        return []

    def whois(self, nick: str, now: float) -> list[ev.UiEvent]:
        if not p.valid_nick(nick):
            return [ev.Notice(now, f"not a valid nick: {nick}", "error")]
        self.requests.ask(p.Whois(self.requests.new_id(), nick), "whois", now, nick)
        return []

    def verify(self, nick: str, now: float) -> list[ev.UiEvent]:
        """The safety code to compare with ``nick`` out of band."""
        key = self.roster.key_of(nick)
        if key is None:
            return [ev.Notice(now, f"nobody is called {nick}", "error")]
        self.peers.verified[nick.casefold()] = key  # /accept takes this key or none
        return verify_notes(self.nick, self.key, self.roster.name_of(nick), key, now)

    def rename(self, nick: str, now: float) -> list[ev.UiEvent]:
        """/nick: ask the host to call us ``nick`` from now on (same key)."""
        return ask_rename(self, nick, now)

    def ping(self, now: float, quiet: bool = False) -> list[ev.UiEvent]:
        self._last_ping = now
        self.requests.ask(p.Ping(self.requests.new_id()), "ping", now, quiet=quiet)
        return []

    def quit(self, reason: str = "") -> None:
        """Say goodbye, once: ``reason``, or the one ``/quit REASON`` left in
        ``quit_reason``, is what the others see."""
        if not self._said_bye:
            self._said_bye = True
            self.requests.send(p.Bye((reason or self.quit_reason)[:QUIT_REASON_MAX]))

    # --- time --------------------------------------------------------------------

    def hello_again(self) -> None:
        """Say hello again after the host asked us to slow down (PROTOCOL.md 4.3)."""
        self.hello_refused = None
        self.requests.send(self._hello)

    def tick(self, now: float) -> list[ev.UiEvent]:
        """Heartbeat; report a host that has gone quiet for ``dead_after`` seconds."""
        if now - self._last_heard >= self.dead_after:
            return [ev.Disconnected(now, f"the host stopped answering ({self.dead_after:g} s)")]
        self._release(now)
        if self.registered and now - self._last_ping >= self.ping_interval:
            self.ping(now, quiet=True)
        return [ev.Notice(now, text, "warn") for text in self.keyring.tick(now)]
