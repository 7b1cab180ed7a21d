"""The participant's side of the chat, sans-IO: registration, rooms, requests, heartbeat.

User actions (say, tell, join, ...) queue packets and return events for the screen;
packets from the host become events. Time comes in as ``now``; :meth:`tick` sends
heartbeats and notices a host that stopped answering.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from severus_cli.core import events as ev
from severus_cli.core import packets as p
from severus_cli.core.fields import MAX_ID
from severus_cli.core.identity_format import fingerprint
from severus_cli.core.packets import LOBBY, Packet, encode
from severus_cli.core.ratelimit import TokenBucket
from severus_cli.errors import RemoteProtocolError

CLIENT_NAME = "severus/0.1"
# UTF-8 bytes in one message: the host must fit it, sender and room in one packet.
MAX_TEXT_BYTES = p.MAX_PACKET - 128


def _pacer(limits: p.RateLimits, now: float) -> TokenBucket:
    """A bucket a little stricter than the host's, so network jitter never trips it."""
    return TokenBucket(max(1.0, limits.burst * 0.8), limits.rate * 0.9, now)


@dataclass(frozen=True, slots=True)
class Request:
    """A packet awaiting its answer; ``kind`` is its wire type."""

    kind: str
    sent_at: float
    subject: str = ""  # room or nick it is about
    quiet: bool = False  # heartbeat pings show nothing


class ClientCore:
    """One participant's view of a host."""

    def __init__(
        self,
        nick: str,
        now: float,
        rooms: tuple[str, ...] = (),
        ping_interval: float = 5.0,
        dead_after: float = 20.0,
    ) -> None:
        self.nick = nick
        self.host_nick = ""
        self.current_room = LOBBY
        self.rooms: dict[str, str] = {}  # casefolded -> display name, lobby excluded
        self.roster: dict[str, str] = {}  # casefolded -> nick, everyone connected
        self.registered = False
        self.rejected: p.Error | None = None  # the fatal error that ended the session
        self.failures: list[p.Error] = []  # errors for requests we made
        self.rtt_ms: float | None = None
        self.limits = p.RateLimits()
        self.ping_interval = ping_interval
        self.dead_after = dead_after
        self._wanted_rooms = rooms
        self._pending: dict[int, Request] = {}
        self._next_id = 1
        self._paced: deque[bytes] = deque()
        self._bucket = _pacer(p.RateLimits(), now)
        self.last_id = 0  # id of the newest request, so callers can match its answer
        self._outbox: list[bytes] = []
        self._last_heard = now
        self._last_ping = now
        self._outbox.append(encode(p.Hello(nick, CLIENT_NAME, rooms)))

    # --- plumbing ----------------------------------------------------------------

    def packets_to_send(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    @property
    def unacknowledged(self) -> int:
        """Messages sent but not yet confirmed by the host."""
        return sum(1 for r in self._pending.values() if r.kind in ("say", "tell"))

    def _message(self, packet: p.Say | p.Tell, now: float, subject: str) -> None:
        """Queue a message, paced to the host's announced rate so none is refused."""
        self._pending[packet.id] = Request(packet.TYPE, now, subject)
        self._paced.append(encode(packet))
        self._release(now)

    def _release(self, now: float) -> None:
        while self._paced and self._bucket.take(now):
            self._outbox.append(self._paced.popleft())

    @property
    def queued(self) -> int:
        """Messages held back to respect the host's rate limit."""
        return len(self._paced)

    def _request(
        self, packet: Packet, kind: str, now: float, subject: str = "", quiet: bool = False
    ) -> None:
        self._outbox.append(encode(packet))
        self._pending[packet.id] = Request(kind, now, subject, quiet)  # type: ignore[attr-defined]

    def _new_id(self) -> int:
        request = self.last_id = self._next_id
        self._next_id = self._next_id % MAX_ID + 1
        return request

    # --- user actions ------------------------------------------------------------

    def say(
        self, text: str, now: float, action: bool = False, room: str | None = None
    ) -> list[ev.UiEvent]:
        target = room or self.current_room
        problem = self._check_text(text, now)
        if problem:
            return [problem]
        self._message(p.Say(self._new_id(), target, text, action), now, target)
        return [ev.ChatMessage(now, self.nick, target, text, action, own=True)]

    def tell(self, nick: str, text: str, now: float, action: bool = False) -> list[ev.UiEvent]:
        if not p.valid_nick(nick):
            return [ev.Notice(now, f"not a valid nick: {nick}", "error")]
        problem = self._check_text(text, now)
        if problem:
            return [problem]
        self._message(p.Tell(self._new_id(), nick, text, action), now, nick)
        return [
            ev.DirectMessage(now, self.roster.get(nick.casefold(), nick), text, action, own=True)
        ]

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
        if size > MAX_TEXT_BYTES:
            return ev.Notice(now, f"message too long ({size} > {MAX_TEXT_BYTES} bytes)", "error")
        return None

    def join(self, room: str, now: float) -> list[ev.UiEvent]:
        room = room.removeprefix("#")
        if not p.valid_room(room):
            return [ev.Notice(now, "room names are 1-32 of letters, digits, _ . -", "error")]
        if room.casefold() in self.rooms or room.casefold() == LOBBY:
            self.current_room = self.rooms.get(room.casefold(), LOBBY)
            return [ev.RoomChanged(now, self.current_room, ())]
        self._request(p.Join(self._new_id(), room), "join", now, room)
        return []

    def part(self, now: float, room: str | None = None) -> list[ev.UiEvent]:
        target = (room or self.current_room).removeprefix("#")
        if target.casefold() == LOBBY:
            return [ev.Notice(now, "you are in the lobby; /quit to leave the host", "info")]
        if target.casefold() not in self.rooms:
            return [ev.Notice(now, f"you are not in {target}", "error")]
        name = self.rooms.pop(target.casefold())
        self._request(p.Part(self._new_id(), name), "part", now, name)
        if self.current_room.casefold() == target.casefold():
            self.current_room = LOBBY
        return [ev.RoomChanged(now, self.current_room, ())]

    def names(self, now: float, room: str | None = None) -> list[ev.UiEvent]:
        target = room or self.current_room
        self._request(p.Names(self._new_id(), target), "names", now, target)
        return []

    def list_rooms(self, now: float) -> list[ev.UiEvent]:
        self._request(p.ListRooms(self._new_id()), "rooms", now)
        return []

    def whois(self, nick: str, now: float) -> list[ev.UiEvent]:
        if not p.valid_nick(nick):
            return [ev.Notice(now, f"not a valid nick: {nick}", "error")]
        self._request(p.Whois(self._new_id(), nick), "whois", now, nick)
        return []

    def ping(self, now: float, quiet: bool = False) -> list[ev.UiEvent]:
        self._last_ping = now
        self._request(p.Ping(self._new_id()), "ping", now, quiet=quiet)
        return []

    def quit(self, reason: str = "") -> None:
        self._outbox.append(encode(p.Bye(reason[: p.MAX_SHORT])))

    # --- time --------------------------------------------------------------------

    def tick(self, now: float) -> list[ev.UiEvent]:
        """Heartbeat; report a host that has gone quiet for ``dead_after`` seconds."""
        if now - self._last_heard >= self.dead_after:
            return [ev.Disconnected(now, f"the host stopped answering ({self.dead_after:g} s)")]
        self._release(now)
        if self.registered and now - self._last_ping >= self.ping_interval:
            self.ping(now, quiet=True)
        return []

    # --- packets from the host ---------------------------------------------------

    def receive(self, payload: bytes, now: float) -> list[ev.UiEvent]:
        """Handle one packet from the host; raises RemoteProtocolError on junk."""
        self._last_heard = now
        packet = p.decode_from_host(payload)
        handler = getattr(self, "_on_" + packet.TYPE)
        events: list[ev.UiEvent] = handler(packet, now)
        return events

    def _on_welcome(self, packet: p.Welcome, now: float) -> list[ev.UiEvent]:
        if self.registered:
            raise RemoteProtocolError("a second welcome", "bad_packet")
        self.registered = True
        self.nick = packet.nick
        self.host_nick = packet.host
        self.roster = {n.casefold(): n for n in packet.users}
        self.rooms = {r.casefold(): r for r in packet.rooms}
        self.limits = packet.limits
        self._bucket = _pacer(packet.limits, now)
        wanted = self._wanted_rooms[-1].casefold() if self._wanted_rooms else LOBBY
        self.current_room = self.rooms.get(wanted, LOBBY)
        out: list[ev.UiEvent] = [ev.Welcome(now, packet.nick, packet.host, packet.users)]
        if packet.motd:
            out.append(ev.Notice(now, packet.motd))
        return out

    def _on_ok(self, packet: p.Ok, now: float) -> list[ev.UiEvent]:
        self._pending.pop(packet.id, None)
        return []

    def _on_err(self, packet: p.Error, now: float) -> list[ev.UiEvent]:
        if packet.fatal:
            self.rejected = packet
            return [ev.Disconnected(now, packet.msg or packet.code)]
        request = self._pending.pop(packet.id, None) if packet.id is not None else None
        if request is not None:
            self.failures.append(packet)
            if request.kind == "join":
                return [ev.Notice(now, f"cannot join {request.subject}: {packet.msg}", "error")]
        return [ev.Notice(now, packet.msg or packet.code, "error")]

    def _on_msg(self, packet: p.Message, now: float) -> list[ev.UiEvent]:
        return [ev.ChatMessage(packet.ts, packet.sender, packet.room, packet.text, packet.action)]

    def _on_pm(self, packet: p.Private, now: float) -> list[ev.UiEvent]:
        return [ev.DirectMessage(packet.ts, packet.sender, packet.text, packet.action)]

    def _on_joined(self, packet: p.Joined, now: float) -> list[ev.UiEvent]:
        if packet.room == LOBBY:
            self.roster[packet.nick.casefold()] = packet.nick
        return [ev.Joined(now, packet.nick, packet.room, packet.count)]

    def _on_left(self, packet: p.Left, now: float) -> list[ev.UiEvent]:
        if packet.room == LOBBY:
            self.roster.pop(packet.nick.casefold(), None)
        return [ev.Left(now, packet.nick, packet.room, packet.count, packet.reason)]

    def _on_users(self, packet: p.Users, now: float) -> list[ev.UiEvent]:
        request = self._pending.pop(packet.id, None)
        if request is not None and request.kind == "join":
            self.rooms[packet.room.casefold()] = packet.room
            self.current_room = packet.room
            return [ev.RoomChanged(now, packet.room, packet.users)]
        if packet.room == LOBBY:
            self.roster = {n.casefold(): n for n in packet.users}
        return [ev.UserList(now, packet.room, packet.users)]

    def _on_roomlist(self, packet: p.RoomList, now: float) -> list[ev.UiEvent]:
        self._pending.pop(packet.id, None)
        return [ev.RoomList(now, packet.rooms)]

    def _on_whoisreply(self, packet: p.WhoisReply, now: float) -> list[ev.UiEvent]:
        self._pending.pop(packet.id, None)
        return [ev.WhoisInfo(now, packet.nick, fingerprint(packet.key), packet.rooms, packet.since)]

    def _on_pong(self, packet: p.Pong, now: float) -> list[ev.UiEvent]:
        request = self._pending.pop(packet.id, None)
        if request is None or request.kind != "ping":
            return []
        self.rtt_ms = (now - request.sent_at) * 1000.0
        return [] if request.quiet else [ev.PingResult(now, self.rtt_ms)]

    def _on_bye(self, packet: p.Bye, now: float) -> list[ev.UiEvent]:
        return [ev.Disconnected(now, packet.reason or "the host closed the session")]
