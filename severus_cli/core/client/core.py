"""The participant's side of the chat, sans-IO: registration, rooms, requests, heartbeat,
and end-to-end encryption of everything said.

User actions (say, tell, join, ...) queue packets and return events for the screen;
packets from the host become events. Room messages are sealed with our sender key and
private messages go through a pairwise session (:mod:`severus_cli.core.e2e`), so the
host only ever relays ciphertext. Time comes in as ``now``; :meth:`tick` sends
heartbeats and notices a host that stopped answering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from severus_cli.core.client import events as ev
from severus_cli.core.client import via as client_via
from severus_cli.core.client.membership import MembershipLog, Snapshot, shares_room, snapshot
from severus_cli.core.client.rename import RenameState, ask_rename, on_renamed, refused
from severus_cli.core.client.requests import Requests
from severus_cli.core.client.roster import Roster
from severus_cli.core.client.text_limits import SEAL_OVERHEAD as SEAL_OVERHEAD
from severus_cli.core.client.text_limits import check_text
from severus_cli.core.client.verify_notes import verify_notes
from severus_cli.core.e2e.keyring import Heard, Keyring, Relay, lost_notice
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.peer_trust import PeerGuard, blocked_notice, dropped_notice
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY
from severus_cli.errors import RemoteProtocolError

CLIENT_NAME = "severus/0.1"
# UTF-8 bytes of text in one message: it must fit, sealed, in one packet.
MAX_TEXT_BYTES = p.MAX_DATA - SEAL_OVERHEAD  # less if the host announces a lower max_data
COUNTED = frozenset({"seal", "dm", "key"})  # requests that carry what the user said
QUIT_REASON_MAX = p.MAX_SHORT - len("quit: ")  # the host passes it on as "quit: REASON"

PeerChecker = Callable[[str, bytes], str | None]
"""Told of every (nick, identity key) seen; returns a warning to show, or None."""


class ClientCore:
    """One participant's view of a host."""

    def __init__(
        self,
        nick: str,
        now: float,
        rooms: tuple[str, ...] = (),
        *,
        static_private: bytes,
        static_public: bytes,
        peer_checker: PeerChecker | None = None,
        peer_guard: PeerGuard | None = None,
        ping_interval: float = 5.0,
        dead_after: float = 20.0,
        before: Snapshot | None = None,
        send_only: bool = False,
    ) -> None:
        """``before``: who was in our rooms in the previous session (after a reconnect),
        shown against who is there now. ``send_only``: we only send (``severus send``), so
        we may run beside our own chat under its nick, unseen (PROTOCOL.md 4.7)."""
        self.nick = nick
        self.key = static_public
        self.host_nick = ""
        self.current_room = LOBBY
        self.rooms: dict[str, str] = {}  # casefolded -> display name, lobby excluded
        self.roster = Roster()
        self.keyring = Keyring(
            static_private,
            static_public,
            nick,
            shares_room=lambda who, room: shares_room(
                self.roster, self.rooms, client_via.nick_of(who), room
            ),
        )
        self.membership = MembershipLog(before)
        self.registered = False
        self.rejected: p.Error | None = None  # the fatal error that ended the session
        self.failures: list[p.Error] = []  # errors for requests we made
        self.rtt_ms: float | None = None
        self.limits = p.RateLimits()
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self.peers = peer_guard or PeerGuard(None, "")  # whose keys we may encrypt to
        self.peers.own_nick, self.peers.own_key = (lambda: self.nick), static_public
        self._check_peer = peer_checker or self.peers.check
        self._wanted_rooms = rooms
        self.requests = Requests(self.limits, now)
        caps = (*p.CAPS, p.SEND_ONLY) if send_only else p.CAPS
        self._hello = p.Hello(nick, CLIENT_NAME, rooms, caps)
        self.requests.send(self._hello)
        self.hello_refused: p.Error | None = None  # "slow down" to our hello: say it again
        self.host_caps: tuple[str, ...] = ()  # what the host accepts (its welcome's caps)
        self.renaming = RenameState()  # our /nick awaiting the host
        self._told_pacing = False
        self.quit_reason = ""  # from /quit REASON, sent when the session is closed
        self._said_bye = False
        self._last_heard = now
        self._last_ping = now

    # --- plumbing ----------------------------------------------------------------

    def packets_to_send(self) -> list[bytes]:
        return self.requests.take()

    @property
    def last_id(self) -> int:
        """Id of the newest request, so callers can match its answer."""
        return self.requests.last_id

    @property
    def unacknowledged(self) -> int:
        """Messages (and the keys to read them) not yet confirmed by the host."""
        return self.requests.count(COUNTED) + self.keyring.queued

    @property
    def settling(self) -> bool:
        """Still learning who is in the rooms we were put back in (after a welcome)."""
        return self.requests.count(frozenset({"rejoin"})) > 0

    def snapshot(self) -> dict[str, tuple[str, ...]]:
        """Who is in our rooms now, for the session after a reconnect to compare with."""
        return snapshot(self.roster, self.rooms)

    @property
    def queued(self) -> int:
        """Messages held back to respect the host's rate limit."""
        return self.requests.queued

    def _release(self, now: float) -> None:
        self.requests.release(now)
        if not self.requests.queued:
            self._told_pacing = False

    def _held_back(self, now: float) -> list[ev.UiEvent]:
        """Say once, when messages start waiting for the host's rate limit, why they are
        slow to arrive (the host would refuse them if we sent them at once)."""
        if not self.requests.queued or self._told_pacing:
            return []
        self._told_pacing = True
        return [
            ev.Notice(
                now,
                f"sending slowly: the host allows {self.limits.rate:g} messages a second "
                f"after a burst of {self.limits.burst:g}; {self.requests.queued} waiting",
                "warn",
            )
        ]

    def _relay(self, relays: list[Relay], now: float) -> None:
        """Send blobs for other participants; private messages are paced like room ones."""
        for relay in relays:
            to, via = client_via.split(relay.nick)  # a send-only connection's (4.7)
            packet = p.Relay(self.requests.new_id(), to, relay.kind, relay.data, via)
            self.requests.ask(
                packet, relay.kind, now, relay.nick, quiet=True, paced=relay.kind == "dm"
            )

    # --- user actions ------------------------------------------------------------

    def say(
        self, text: str, now: float, action: bool = False, room: str | None = None
    ) -> list[ev.UiEvent]:
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

    # --- packets from the host ---------------------------------------------------

    def receive(self, payload: bytes, now: float) -> list[ev.UiEvent]:
        """Handle one packet from the host; raises RemoteProtocolError on junk."""
        self._last_heard = now
        packet = p.decode_from_host(payload)
        handler = getattr(self, "_on_" + packet.TYPE)
        events: list[ev.UiEvent] = []
        if packet.TYPE != "roster":  # the lobby's pages are over: compare it with before
            events += self.membership.settle(self.roster, self.nick, now)
        events += handler(packet, now)
        return events

    def _meet(self, nick: str, key: bytes, now: float) -> list[ev.UiEvent]:
        """A participant (re)appeared: remember their key and check it."""
        if key == self.key and nick.casefold() == self.nick.casefold():
            return []
        self.roster.add(nick, key)
        self.keyring.peer_joined(nick, key)
        warning = self._check_peer(nick, key)
        return [ev.Notice(now, warning, "warn")] if warning else []

    def _on_welcome(self, packet: p.Welcome, now: float) -> list[ev.UiEvent]:
        if self.registered:
            raise RemoteProtocolError("a second welcome", "bad_packet")
        self.registered = True
        self.nick = packet.nick
        self.host_nick = packet.host
        self.roster.reset(packet.users)
        self.rooms = {r.casefold(): r for r in packet.rooms}
        self.limits = packet.limits
        self.host_caps = packet.caps
        self.requests.new_limits(packet.limits, now)
        wanted = self._wanted_rooms[-1].casefold() if self._wanted_rooms else LOBBY
        self.current_room = self.rooms.get(wanted, LOBBY)
        nicks = tuple(nick for nick, _ in packet.users)
        out: list[ev.UiEvent] = [ev.Welcome(now, packet.nick, packet.host, nicks)]
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        out += self.membership.welcome(len(packet.users), packet.rooms, self.roster, self.nick, now)
        for room in packet.rooms:  # learn who is in the rooms we were put back in
            self.requests.ask(
                p.Names(self.requests.new_id(), room), "rejoin", now, room, quiet=True
            )
        if packet.motd:
            out.append(ev.Notice(now, packet.motd))
        if self.current_room != LOBBY:  # put back in a room: say where plain lines go
            out.append(ev.RoomChanged(now, self.current_room, ()))
        return out

    def _on_roster(self, packet: p.Roster, now: float) -> list[ev.UiEvent]:
        out: list[ev.UiEvent] = []
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        added = tuple(nick for nick, _ in packet.users)
        return out + self.membership.page(added, self.roster, self.nick, now)

    def _on_ok(self, packet: p.Ok, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return []

    def _on_err(self, packet: p.Error, now: float) -> list[ev.UiEvent]:
        if packet.fatal:
            self.rejected = packet
            return [ev.Disconnected(now, packet.msg or packet.code)]
        if not self.registered and packet.code == "rate_limited":
            self.hello_refused = packet  # too many joins from our address: not final
            return []
        request = self.requests.answered(packet.id)
        if request is not None:
            self.failures.append(packet)
            if request.kind == "join":
                return [ev.Notice(now, f"cannot join {request.subject}: {packet.msg}", "error")]
            if request.kind == "nick":
                why = ev.Notice(now, f"cannot be {request.subject}: {packet.msg}", "error")
                return [why, *refused(self, now)]
        return [ev.Notice(now, packet.msg or packet.code, "error")]

    def _on_sealed(self, packet: p.Sealed, now: float) -> list[ev.UiEvent]:
        if packet.sender.casefold() == self.nick.casefold():
            error = RemoteProtocolError("the host claims it came from us", "e2e_forged")
            return [self._forged(packet.sender, error, now)]
        key = self.roster.key_of(packet.sender)
        if key is None:
            return [ev.Notice(now, f"a room message from unknown {packet.sender} dropped", "warn")]
        if self.peers.blocked(packet.sender, key):
            return [ev.Notice(now, dropped_notice(packet.sender), "warn")]
        try:
            sender = client_via.alias(packet.sender, packet.via)
            heard = self.keyring.sealed(sender, key, packet.room, packet.data, packet.ts, now)
        except RemoteProtocolError as error:
            return [self._forged(packet.sender, error, now)]
        return self._heard([heard] if heard else [], now)

    def _on_relayed(self, packet: p.Relayed, now: float) -> list[ev.UiEvent]:
        key = self.roster.key_of(packet.sender)
        if key is None:
            return [
                ev.Notice(now, f"a private message from unknown {packet.sender} dropped", "warn")
            ]
        try:
            sender = client_via.alias(packet.sender, packet.via)
            heard, replies = self.keyring.relayed(sender, key, packet.kind, packet.data, now)
        except RemoteProtocolError as error:
            return [self._forged(packet.sender, error, now)]
        self._relay(replies, now)
        if heard and self.peers.blocked(packet.sender, key):
            return [ev.Notice(now, dropped_notice(packet.sender), "warn")]
        return self._heard(heard, now)

    def _forged(self, nick: str, error: RemoteProtocolError, now: float) -> ev.Notice:
        return ev.Notice(
            now,
            f"a message claiming to be from {nick} failed end-to-end "
            f"verification and was dropped ({error.message})",
            "warn",
        )

    def _heard(self, heard: list[Heard], now: float) -> list[ev.UiEvent]:
        events: list[ev.UiEvent] = []
        for h in heard:
            nick = client_via.nick_of(h.nick)  # a send-only connection's lines: its nick's
            if h.lost:  # the counter skipped: say so, or the gap goes unseen
                events.append(ev.Notice(now, lost_notice(replace(h, nick=nick)), "warn"))
            events.append(
                ev.DirectMessage(h.ts, nick, h.body.text, h.body.action)
                if h.room is None
                else ev.ChatMessage(h.ts, nick, h.room, h.body.text, h.body.action)
            )
        events += [
            self._forged(client_via.nick_of(nick), RemoteProtocolError("bad signature"), now)
            for nick in self.keyring.take_forged()
        ]
        events += [ev.Notice(now, text, "warn") for text in self.keyring.take_notices(now)]
        return events

    def _on_joined(self, packet: p.Joined, now: float) -> list[ev.UiEvent]:
        out: list[ev.UiEvent] = []
        if packet.room == LOBBY:
            out += self._meet(packet.nick, packet.key, now)
        if self.roster.joined_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)  # the newcomer reads only what follows
        return [ev.Joined(now, packet.nick, packet.room, packet.count, packet.quiet), *out]

    def _on_left(self, packet: p.Left, now: float) -> list[ev.UiEvent]:
        if packet.via:  # one send-only connection of the nick ended; the nick stays (4.7)
            key = self.roster.key_of(packet.nick)
            if key is not None:
                self.keyring.peer_left(key, client_via.alias(packet.nick, packet.via))
            return []
        if packet.room == LOBBY:
            key, rooms = self.roster.remove(packet.nick)
            if key is not None:
                for name in [packet.nick, *client_via.aliases(packet.nick)]:
                    self.keyring.peer_left(key, name)
            for room in [LOBBY, *rooms]:
                self.keyring.membership_changed(room)  # they must not read what follows
        elif self.roster.left_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)
        return [ev.Left(now, packet.nick, packet.room, packet.count, packet.reason, packet.quiet)]

    def _on_users(self, packet: p.Users, now: float) -> list[ev.UiEvent]:
        request = self.requests.answered(packet.id)
        kind = request.kind if request else ""
        if kind in ("join", "rejoin"):
            self.rooms[packet.room.casefold()] = packet.room
            self.roster.enter(packet.room, packet.users)
            if kind == "rejoin":  # the host put us (back) in it: show who is there
                return [self.membership.diff(packet.room, packet.users, self.nick, now)]
            self.current_room = packet.room
            return [ev.RoomChanged(now, packet.room, packet.users)]
        return [ev.UserList(now, packet.room, packet.users)]

    def _on_roomlist(self, packet: p.RoomList, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return [ev.RoomList(now, packet.rooms)]

    def _on_whoisreply(self, packet: p.WhoisReply, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return [ev.WhoisInfo(now, packet.nick, fingerprint(packet.key), packet.rooms, packet.since)]

    def _on_pong(self, packet: p.Pong, now: float) -> list[ev.UiEvent]:
        request = self.requests.answered(packet.id)
        if request is None or request.kind != "ping":
            return []
        self.rtt_ms = (now - request.sent_at) * 1000.0
        return [] if request.quiet else [ev.PingResult(now, self.rtt_ms)]

    def _on_renamed(self, packet: p.Renamed, now: float) -> list[ev.UiEvent]:
        return on_renamed(self, packet, now)

    def _on_bye(self, packet: p.Bye, now: float) -> list[ev.UiEvent]:
        return [ev.Disconnected(now, packet.reason or "the host closed the session")]
