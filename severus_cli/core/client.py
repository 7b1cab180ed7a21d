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

from severus_cli.core import events as ev
from severus_cli.core import packets as p
from severus_cli.core.e2e.keyring import Heard, Keyring, Relay
from severus_cli.core.e2e.verify import safety_code
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.core.identity_format import fingerprint
from severus_cli.core.packets import LOBBY
from severus_cli.core.requests import Requests
from severus_cli.core.roster import Roster
from severus_cli.errors import RemoteProtocolError

CLIENT_NAME = "severus/0.1"
# UTF-8 bytes of text in one message: it must fit, sealed, in one packet.
SEAL_OVERHEAD = 512
MAX_TEXT_BYTES = p.MAX_DATA - SEAL_OVERHEAD  # less if the host announces a lower max_data
COUNTED = frozenset({"seal", "dm", "key"})  # requests that carry what the user said

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
        ping_interval: float = 5.0,
        dead_after: float = 20.0,
    ) -> None:
        self.nick = nick
        self.key = static_public
        self.host_nick = ""
        self.current_room = LOBBY
        self.rooms: dict[str, str] = {}  # casefolded -> display name, lobby excluded
        self.roster = Roster()
        self.keyring = Keyring(static_private, static_public, nick)
        self.registered = False
        self.rejected: p.Error | None = None  # the fatal error that ended the session
        self.failures: list[p.Error] = []  # errors for requests we made
        self.rtt_ms: float | None = None
        self.limits = p.RateLimits()
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self._check_peer = peer_checker or (lambda nick, key: None)
        self._wanted_rooms = rooms
        self.requests = Requests(self.limits, now)
        self.requests.send(p.Hello(nick, CLIENT_NAME, rooms))
        self._told_pacing = False
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
            packet = p.Relay(self.requests.new_id(), relay.nick, relay.kind, relay.data)
            self.requests.ask(
                packet, relay.kind, now, relay.nick, quiet=True, paced=relay.kind == "dm"
            )

    # --- user actions ------------------------------------------------------------

    def say(
        self, text: str, now: float, action: bool = False, room: str | None = None
    ) -> list[ev.UiEvent]:
        target = room or self.current_room
        problem = self._check_text(text, now)
        if problem:
            return [problem]
        relays, data = self.keyring.seal(
            target, self.roster.members(target), ChatBody(text, action)
        )
        self._relay(relays, now)
        self.requests.ask(
            p.Seal(self.requests.new_id(), target, data), "seal", now, target, paced=True
        )
        own = ev.ChatMessage(now, self.nick, target, text, action, own=True)
        return [own, *self._held_back(now)]

    def tell(self, nick: str, text: str, now: float, action: bool = False) -> list[ev.UiEvent]:
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
        self._relay(self.keyring.direct(peer, key, ChatBody(text, action)), now)
        return [ev.DirectMessage(now, peer, text, action, own=True), *self._held_back(now)]

    def _check_text(self, text: str, now: float) -> ev.Notice | None:
        if not text:
            return ev.Notice(now, "nothing to send", "error")
        limit = self.limits.max_text
        if len(text) > limit:
            return ev.Notice(now, f"message too long ({len(text)} > {limit} characters)", "error")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return ev.Notice(now, "the message is not valid text (stray surrogates)", "error")
        most = self.limits.max_data - SEAL_OVERHEAD
        if size > most:
            return ev.Notice(now, f"message too long ({size} > {most} bytes)", "error")
        return None

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
        peer = self.roster.name_of(nick)
        return [
            ev.Notice(now, f"Safety code with {peer}: {safety_code(self.key, key)}"),
            ev.Notice(
                now,
                f"{peer} should see the same digits with /verify {self.nick}; "
                f"compare them by voice or in person. {peer}'s key: "
                f"{fingerprint(key)}",
            ),
        ]

    def ping(self, now: float, quiet: bool = False) -> list[ev.UiEvent]:
        self._last_ping = now
        self.requests.ask(p.Ping(self.requests.new_id()), "ping", now, quiet=quiet)
        return []

    def quit(self, reason: str = "") -> None:
        self.requests.send(p.Bye(reason[: p.MAX_SHORT]))

    # --- time --------------------------------------------------------------------

    def tick(self, now: float) -> list[ev.UiEvent]:
        """Heartbeat; report a host that has gone quiet for ``dead_after`` seconds."""
        if now - self._last_heard >= self.dead_after:
            return [ev.Disconnected(now, f"the host stopped answering ({self.dead_after:g} s)")]
        self._release(now)
        if self.registered and now - self._last_ping >= self.ping_interval:
            self.ping(now, quiet=True)
        return [
            ev.Notice(
                now, f"a message from {nick} could not be decrypted: its key never arrived", "warn"
            )
            for nick in self.keyring.expire(now)
        ]

    # --- packets from the host ---------------------------------------------------

    def receive(self, payload: bytes, now: float) -> list[ev.UiEvent]:
        """Handle one packet from the host; raises RemoteProtocolError on junk."""
        self._last_heard = now
        packet = p.decode_from_host(payload)
        handler = getattr(self, "_on_" + packet.TYPE)
        events: list[ev.UiEvent] = handler(packet, now)
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
        self.requests.new_limits(packet.limits, now)
        wanted = self._wanted_rooms[-1].casefold() if self._wanted_rooms else LOBBY
        self.current_room = self.rooms.get(wanted, LOBBY)
        nicks = tuple(nick for nick, _ in packet.users)
        out: list[ev.UiEvent] = [ev.Welcome(now, packet.nick, packet.host, nicks)]
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        for room in packet.rooms:  # learn who is in the rooms we were put back in
            self.requests.ask(
                p.Names(self.requests.new_id(), room), "rejoin", now, room, quiet=True
            )
        if packet.motd:
            out.append(ev.Notice(now, packet.motd))
        return out

    def _on_roster(self, packet: p.Roster, now: float) -> list[ev.UiEvent]:
        out: list[ev.UiEvent] = []
        for nick, key in packet.users:
            out += self._meet(nick, key, now)
        return out

    def _on_ok(self, packet: p.Ok, now: float) -> list[ev.UiEvent]:
        self.requests.answered(packet.id)
        return []

    def _on_err(self, packet: p.Error, now: float) -> list[ev.UiEvent]:
        if packet.fatal:
            self.rejected = packet
            return [ev.Disconnected(now, packet.msg or packet.code)]
        request = self.requests.answered(packet.id)
        if request is not None:
            self.failures.append(packet)
            if request.kind == "join":
                return [ev.Notice(now, f"cannot join {request.subject}: {packet.msg}", "error")]
        return [ev.Notice(now, packet.msg or packet.code, "error")]

    def _on_sealed(self, packet: p.Sealed, now: float) -> list[ev.UiEvent]:
        if packet.sender.casefold() == self.nick.casefold():
            error = RemoteProtocolError("the host claims it came from us", "e2e_forged")
            return [self._forged(packet.sender, error, now)]
        key = self.roster.key_of(packet.sender)
        if key is None:
            return [ev.Notice(now, f"a room message from unknown {packet.sender} dropped", "warn")]
        try:
            heard = self.keyring.sealed(
                packet.sender, key, packet.room, packet.data, packet.ts, now
            )
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
            heard, replies = self.keyring.relayed(packet.sender, key, packet.kind, packet.data, now)
        except RemoteProtocolError as error:
            return [self._forged(packet.sender, error, now)]
        self._relay(replies, now)
        return self._heard(heard, now)

    def _forged(self, nick: str, error: RemoteProtocolError, now: float) -> ev.Notice:
        return ev.Notice(
            now,
            f"a message claiming to be from {nick} failed end-to-end "
            f"verification and was dropped ({error.message})",
            "warn",
        )

    def _heard(self, heard: list[Heard], now: float) -> list[ev.UiEvent]:
        events: list[ev.UiEvent] = [
            ev.DirectMessage(h.ts, h.nick, h.body.text, h.body.action)
            if h.room is None
            else ev.ChatMessage(h.ts, h.nick, h.room, h.body.text, h.body.action)
            for h in heard
        ]
        events += [
            self._forged(nick, RemoteProtocolError("bad signature"), now)
            for nick in self.keyring.take_forged()
        ]
        return events

    def _on_joined(self, packet: p.Joined, now: float) -> list[ev.UiEvent]:
        out: list[ev.UiEvent] = []
        if packet.room == LOBBY:
            out += self._meet(packet.nick, packet.key, now)
        if self.roster.joined_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)  # the newcomer reads only what follows
        return [ev.Joined(now, packet.nick, packet.room, packet.count), *out]

    def _on_left(self, packet: p.Left, now: float) -> list[ev.UiEvent]:
        if packet.room == LOBBY:
            key, rooms = self.roster.remove(packet.nick)
            if key is not None:
                self.keyring.peer_left(key, packet.nick)
            for room in [LOBBY, *rooms]:
                self.keyring.membership_changed(room)  # they must not read what follows
        elif self.roster.left_room(packet.room, packet.nick):
            self.keyring.membership_changed(packet.room)
        return [ev.Left(now, packet.nick, packet.room, packet.count, packet.reason)]

    def _on_users(self, packet: p.Users, now: float) -> list[ev.UiEvent]:
        request = self.requests.answered(packet.id)
        kind = request.kind if request else ""
        if kind in ("join", "rejoin"):
            self.rooms[packet.room.casefold()] = packet.room
            self.roster.enter(packet.room, packet.users)
            if kind == "rejoin":
                return []
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

    def _on_bye(self, packet: p.Bye, now: float) -> list[ev.UiEvent]:
        return [ev.Disconnected(now, packet.reason or "the host closed the session")]
