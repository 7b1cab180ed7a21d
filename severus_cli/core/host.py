"""The host's routing brain, sans-IO: connections, nicks, rooms, timeouts.

Feed it what happened (a connection authenticated, a packet arrived, time passed)
with the current time, and it answers with actions for the transport layer. It never
reads a clock or touches a socket, so every rule here is tested without a network.
A peer that breaks the protocol gets an error packet and a closed connection; no one
else is affected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from severus_cli.core import packets as p
from severus_cli.core.host_admin import HostAdmin
from severus_cli.core.host_types import (
    UNLIMITED_RATE,
    Action,
    Broadcast,
    Close,
    HostConfig,
    Log,
    Participant,
    Room,
    Send,
)
from severus_cli.core.identity_format import fingerprint
from severus_cli.core.moderation import AdminResult, Moderation
from severus_cli.core.packets import LOBBY, Packet, encode
from severus_cli.core.ratelimit import TokenBucket
from severus_cli.errors import RemoteProtocolError

__all__ = [
    "UNLIMITED_RATE",
    "Action",
    "AdminResult",
    "Broadcast",
    "Close",
    "HostConfig",
    "HostCore",
    "Log",
    "Participant",
    "Room",
    "Send",
]


Handler = Callable[[Participant, Any, float], list[Action]]


class HostCore(HostAdmin):
    """Routing state for one host; the same instance serves every transport."""

    def __init__(self, config: HostConfig, now: float) -> None:
        self.config = config
        self.started_at = now
        self._pending: dict[int, float] = {}  # conn -> handshake deadline
        self._peers: dict[int, Participant] = {}
        self._nicks: dict[str, int] = {}  # casefolded nick -> conn
        self._rooms: dict[str, Room] = {LOBBY: Room(LOBBY)}
        self._local: set[int] = set()  # the host's own participant: never refused or kicked
        self.moderation = Moderation(config.allow)
        self._message_limit = config.message_limit
        # What a registered participant may send, by packet class (one lookup per packet).
        self._handlers: dict[type[Packet], Handler] = {
            p.Seal: self._seal,
            p.Relay: self._relay,
            p.Join: lambda peer, join, now: self._join(peer, join.id, join.room),
            p.Part: lambda peer, part, now: self._part(peer, part),
            p.Names: lambda peer, names, now: self._names(peer, names),
            p.ListRooms: self._list_rooms,
            p.Whois: self._whois,
        }

    # --- queries -----------------------------------------------------------------

    @property
    def participant_count(self) -> int:
        return len(self._nicks)

    @property
    def room_count(self) -> int:
        return len(self._rooms) - 1

    def nick_of(self, conn: int) -> str:
        peer = self._peers.get(conn)
        return peer.nick if peer else ""

    def members(self, room: str) -> tuple[str, ...]:
        found = self._rooms.get(room.casefold())
        if found is None:
            return ()
        return tuple(self._peers[c].nick for c in found.members)

    # --- lifecycle ---------------------------------------------------------------

    def accept(self, conn: int, now: float) -> None:
        """A transport connection opened; the handshake clock starts."""
        self._pending[conn] = now + self.config.handshake_timeout

    def authenticated(
        self, conn: int, key: bytes, now: float, *, local: bool = False
    ) -> list[Action]:
        """The hop handshake completed: ``key`` is the peer's long-term identity.

        A banned or uninvited key is refused here, before any packet of its is read.
        The registration clock keeps running from when the connection opened, so the
        handshake and hello together get ``handshake_timeout``, not twice that.
        """
        timeout = self.config.handshake_timeout
        opened = self._pending.pop(conn, now + timeout) - timeout
        refusal = None if local else self.moderation.refusal(key, now)
        if refusal is not None:
            code, message = refusal
            return [*self._fatal(conn, code, message), Log(f"refused {fingerprint(key)}: {code}")]
        if local:
            self._local.add(conn)
        self._peers[conn] = Participant(conn, key, accepted_at=opened, last_seen=now)
        return []

    def closed(self, conn: int, now: float, reason: str = "") -> list[Action]:
        """The connection is gone; tell the rooms it was in."""
        self._pending.pop(conn, None)
        self._local.discard(conn)
        peer = self._peers.pop(conn, None)
        if peer is None or not peer.registered:
            return []
        del self._nicks[peer.nick.casefold()]
        self.moderation.remember(peer.nick, peer.key)
        actions: list[Action] = []
        for key in reversed(peer.rooms):
            room = self._rooms[key]
            del room.members[conn]
            if room.members:
                left = p.Left(peer.nick, room.name, len(room.members), reason)
                actions.append(Broadcast(tuple(room.members), encode(left)))
            elif key != LOBBY:
                del self._rooms[key]
        actions.append(Log(f"{peer.nick} left ({reason or 'disconnected'})"))
        return actions

    def tick(self, now: float) -> list[Action]:
        """Enforce handshake, registration and idle timeouts."""
        actions: list[Action] = []
        for conn, deadline in list(self._pending.items()):
            if now >= deadline:
                del self._pending[conn]
                actions.append(Close(conn, "handshake timed out"))
        for peer in list(self._peers.values()):
            if not peer.registered and now - peer.accepted_at >= self.config.handshake_timeout:
                actions += self._fatal(peer.conn, "timeout", "no hello in time")
            elif peer.registered and now - peer.last_seen >= self.config.idle_timeout:
                actions.append(Close(peer.conn, "timed out"))
        return actions

    # --- packets -----------------------------------------------------------------

    def receive(self, conn: int, payload: bytes, now: float) -> list[Action]:
        """Handle one decrypted packet from ``conn``."""
        peer = self._peers.get(conn)
        if peer is None:
            return [Close(conn, "packet before the handshake")]
        peer.last_seen = now
        try:
            packet = p.decode_from_client(payload)
            return self._dispatch(peer, packet, now)
        except RemoteProtocolError as error:
            return self._fatal(conn, error.code, error.message)

    def protocol_error(self, conn: int, error: RemoteProtocolError) -> list[Action]:
        """The hop layer failed to parse what ``conn`` sent."""
        return self._fatal(conn, error.code, error.message)

    def _fatal(self, conn: int, code: str, message: str) -> list[Action]:
        error = p.Error(None, code, message[: p.MAX_SHORT], fatal=True)
        return [Send(conn, encode(error)), Close(conn, message)]

    def _reply_error(self, conn: int, request: int, code: str, message: str) -> list[Action]:
        return [Send(conn, encode(p.Error(request, code, message)))]

    def _dispatch(self, peer: Participant, packet: Packet, now: float) -> list[Action]:
        handler = self._handlers.get(type(packet))
        if handler is not None:
            if not peer.registered:
                raise RemoteProtocolError("say hello first", "not_registered")
            return handler(peer, packet, now)
        if isinstance(packet, p.Ping):
            return [Send(peer.conn, encode(p.Pong(packet.id)))]
        if isinstance(packet, p.Bye):
            return [Close(peer.conn, f"quit: {packet.reason}" if packet.reason else "quit")]
        if isinstance(packet, p.Hello):
            return self._hello(peer, packet, now)
        raise RemoteProtocolError(f"{packet.TYPE} is not valid here", "unknown_packet")

    def _list_rooms(self, peer: Participant, packet: p.ListRooms, now: float) -> list[Action]:
        rooms = tuple((r.name, len(r.members)) for r in self._rooms.values())
        return [Send(peer.conn, encode(p.RoomList(packet.id, rooms)))]

    def _hello(self, peer: Participant, hello: p.Hello, now: float) -> list[Action]:
        if peer.registered:
            raise RemoteProtocolError("already registered", "bad_packet")
        folded = hello.nick.casefold()
        actions: list[Action] = []
        holder = self._nicks.get(folded)
        if holder is not None and self._peers[holder].key == peer.key:
            # The same identity reconnecting (its old link not yet timed out): the new
            # connection takes over at once instead of waiting for the idle timeout.
            actions += self.closed(holder, now, "reconnected")
            actions += self._fatal(holder, "replaced", "you connected again from elsewhere")
        elif holder is not None:
            return self._fatal(peer.conn, "nick_taken", f"the nick {hello.nick} is taken")
        if self.participant_count >= self.config.max_clients:
            return self._fatal(peer.conn, "host_full", "the host is full")
        peer.nick = hello.nick
        peer.registered_at = now
        peer.bucket = TokenBucket(self.config.rate_burst, self.config.rate_per_second, now)
        peer.control = TokenBucket(self.config.control_burst, self.config.control_per_second, now)
        self._nicks[folded] = peer.conn
        lobby = self._rooms[LOBBY]
        lobby.members[peer.conn] = None
        peer.rooms[LOBBY] = None
        others = tuple(c for c in lobby.members if c != peer.conn)
        if others:
            joined = p.Joined(peer.nick, LOBBY, len(lobby.members), peer.key)
            actions.append(Broadcast(others, encode(joined)))
        rejoined: list[str] = []
        for room in hello.rooms:
            if room.casefold() != LOBBY and self._enter(peer, room, actions):
                name = self._rooms[room.casefold()].name
                if name not in rejoined:
                    rejoined.append(name)
        users = tuple((self._peers[c].nick, self._peers[c].key) for c in lobby.members)
        limits = p.RateLimits(
            self.config.rate_burst,
            self.config.rate_per_second,
            self.config.max_text,
            self.config.message_limit,
        )
        # A big lobby does not fit one packet: the welcome carries the first page of the
        # roster and `roster` packets the rest, before anything else is sent.
        pages = [users[i : i + p.ROSTER_PAGE] for i in range(0, len(users), p.ROSTER_PAGE)]
        welcome = p.Welcome(
            peer.nick, self.config.host_nick, pages[0], tuple(rejoined), self.config.motd, limits
        )
        sends: list[Action] = [Send(peer.conn, encode(welcome))]
        sends += [Send(peer.conn, encode(p.Roster(page))) for page in pages[1:]]
        actions[:0] = sends
        actions.append(Log(f"{peer.nick} joined"))
        return actions

    def _spend(
        self, peer: Participant, request: int, now: float, bucket: TokenBucket | None = None
    ) -> list[Action] | None:
        """Charge one message to the peer's rate limit; an error reply if over it."""
        bucket = bucket or peer.bucket
        assert bucket is not None
        if bucket.take(now):
            return None
        return self._reply_error(peer.conn, request, "rate_limited", "slow down: too many messages")

    def _seal(self, peer: Participant, seal: p.Seal, now: float) -> list[Action]:
        """Relay an end-to-end encrypted room message to the room's other members."""
        room = self._rooms.get(seal.room.casefold())
        if room is None or peer.conn not in room.members:
            return self._reply_error(
                peer.conn, seal.id, "not_member", f"you are not in {seal.room}"
            )
        refused = self._too_long(peer, seal.id, seal.data) or self._spend(peer, seal.id, now)
        if refused:
            return refused
        others = tuple(c for c in room.members if c != peer.conn)
        actions: list[Action] = [Send(peer.conn, encode(p.Ok(seal.id)))]
        if others:
            sealed = p.Sealed(peer.nick, room.name, seal.data, now)
            actions.append(Broadcast(others, encode(sealed)))
        return actions

    def _relay(self, peer: Participant, relay: p.Relay, now: float) -> list[Action]:
        """Pass an opaque blob to one participant, stamped with who sent it."""
        target = self._nicks.get(relay.to.casefold())
        if target is None:
            return self._reply_error(
                peer.conn, relay.id, "no_such_nick", f"nobody is called {relay.to}"
            )
        refused = self._too_long(peer, relay.id, relay.data)
        if refused:
            return refused
        # Private messages are charged like room messages; handshakes and keys, which a
        # membership change makes in bursts, come from a larger allowance.
        bucket = peer.bucket if relay.kind == "dm" else peer.control
        refused = self._spend(peer, relay.id, now, bucket)
        if refused:
            return refused
        relayed = p.Relayed(peer.nick, relay.kind, relay.data)
        return [Send(target, encode(relayed)), Send(peer.conn, encode(p.Ok(relay.id)))]

    def _too_long(self, peer: Participant, request: int, data: bytes) -> list[Action] | None:
        limit = self._message_limit
        if len(data) <= limit:
            return None
        return self._reply_error(
            peer.conn, request, "too_long", f"messages are limited to {limit} bytes"
        )

    def _enter(self, peer: Participant, name: str, actions: list[Action]) -> bool:
        """Add ``peer`` to room ``name``, creating it; False when rooms are full."""
        key = name.casefold()
        room = self._rooms.get(key)
        if room is None:
            if self.room_count >= self.config.max_rooms:
                return False
            room = self._rooms[key] = Room(name)
        if peer.conn in room.members:
            return True
        room.members[peer.conn] = None
        peer.rooms[key] = None
        others = tuple(c for c in room.members if c != peer.conn)
        if others:
            joined = p.Joined(peer.nick, room.name, len(room.members), peer.key)
            actions.append(Broadcast(others, encode(joined)))
        return True

    def _join(self, peer: Participant, request: int, name: str) -> list[Action]:
        if name.casefold() == LOBBY:
            return self._names(peer, p.Names(request, LOBBY))
        actions: list[Action] = []
        if not self._enter(peer, name, actions):
            return self._reply_error(
                peer.conn, request, "too_many_rooms", "the host has too many rooms"
            )
        room = self._rooms[name.casefold()]
        users = tuple(self._peers[c].nick for c in room.members)
        actions.insert(0, Send(peer.conn, encode(p.Users(request, room.name, users))))
        return actions

    def _part(self, peer: Participant, part: p.Part) -> list[Action]:
        key = part.room.casefold()
        room = self._rooms.get(key)
        if key == LOBBY:
            return self._reply_error(peer.conn, part.id, "bad_room", "nobody leaves the lobby")
        if room is None or peer.conn not in room.members:
            return self._reply_error(
                peer.conn, part.id, "not_member", f"you are not in {part.room}"
            )
        del room.members[peer.conn]
        del peer.rooms[key]
        actions: list[Action] = [Send(peer.conn, encode(p.Ok(part.id)))]
        if room.members:
            left = p.Left(peer.nick, room.name, len(room.members), "")
            actions.append(Broadcast(tuple(room.members), encode(left)))
        else:
            del self._rooms[key]
        return actions

    def _names(self, peer: Participant, names: p.Names) -> list[Action]:
        room = self._rooms.get(names.room.casefold())
        if room is None:
            return self._reply_error(
                peer.conn, names.id, "no_such_room", f"there is no room {names.room}"
            )
        users = tuple(self._peers[c].nick for c in room.members)
        return [Send(peer.conn, encode(p.Users(names.id, room.name, users)))]

    def _whois(self, peer: Participant, whois: p.Whois, now: float) -> list[Action]:
        conn = self._nicks.get(whois.nick.casefold())
        if conn is None:
            return self._reply_error(
                peer.conn, whois.id, "no_such_nick", f"nobody is called {whois.nick}"
            )
        target = self._peers[conn]
        rooms = tuple(self._rooms[k].name for k in target.rooms)
        reply = p.WhoisReply(whois.id, target.nick, target.key, rooms, now - target.registered_at)
        return [Send(peer.conn, encode(reply))]
