"""The host's routing brain, sans-IO: connections, nicks, rooms, timeouts.

Feed it what happened (a connection authenticated, a packet arrived, time passed)
with the current time, and it answers with actions for the transport layer. It never
reads a clock or touches a socket, so every rule here is tested without a network.
A peer that breaks the protocol gets an error packet and a closed connection; no one
else is affected.
"""

from __future__ import annotations

from severus_cli.core.host.actions import (
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
from severus_cli.core.host.admin import HostAdmin
from severus_cli.core.host.limits import Handler, HostLimits, give_allowances
from severus_cli.core.host.moderation import AdminResult, Moderation
from severus_cli.core.host.move import HostMove
from severus_cli.core.host.queries import HostQueries
from severus_cli.core.host.rename import HostRename
from severus_cli.core.host.secondary import HostSecondary
from severus_cli.core.limits.registrations import TOO_MANY_CONNECTIONS, RegistrationGate
from severus_cli.core.limits.room_shares import RoomShares
from severus_cli.core.native import mypyc_attr
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.codec import (  # not via packets: compiled, these are C calls
    MOVING,
    SEND_ONLY,
    decode_from_client,
    encode,
    encode_ok,
    encode_relayed,
    encode_sealed,
)
from severus_cli.core.wire.packet_base import LOBBY, Packet
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


@mypyc_attr(allow_interpreted_subclasses=True)  # tests make hostile hosts of it
class HostCore(HostAdmin, HostLimits, HostMove, HostQueries, HostRename, HostSecondary, RoomShares):
    """Routing state for one host; the same instance serves every transport."""

    def __init__(self, config: HostConfig, now: float) -> None:
        self.config = config
        self.started_at = now
        self._pending: dict[int, float] = {}  # conn -> handshake deadline
        self._peers: dict[int, Participant] = {}
        self._nicks: dict[str, int] = {}  # casefolded nick -> conn
        self._rooms: dict[str, Room] = {LOBBY: Room(LOBBY)}
        self._local: set[int] = set()  # the host's own participant: never refused or kicked
        self._sources: dict[int, str] = {}  # conn -> source address (or /64) it came from
        self._secondaries = 0  # send-only connections under a held nick (host_secondary)
        self.registrations = RegistrationGate(
            config.registration_burst, config.registration_per_second
        )
        self.moderation = Moderation(config.allow)
        self._message_limit = config.message_limit
        # What a registered participant may send, by packet class (one lookup per packet).
        # Messages are charged by their handlers; every other request to the request
        # bucket first (PROTOCOL.md 4.3).
        self._handlers: dict[type[Packet], Handler] = {
            p.Seal: self._seal,
            p.Relay: self._relay,
            p.Join: self._charged(self._join),
            p.Part: self._charged(self._part),
            p.Names: self._charged(lambda peer, names, now: self._names(peer, names)),
            p.ListRooms: self._charged(self._list_rooms),
            p.Whois: self._charged(self._whois),
            p.Nick: self._charged(self._rename),
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

    def accept(self, conn: int, now: float, source: str = "") -> None:
        """A transport connection opened; the handshake clock starts. ``source``: the
        address (or /64) it came from, whose registrations are limited ("": none)."""
        self._pending[conn] = now + self.config.handshake_timeout
        if source:
            self._sources[conn] = source

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
        peer = self._peers[conn] = Participant(conn, key, accepted_at=opened, last_seen=now)
        give_allowances(peer, self.config, now)
        return []

    def closed(self, conn: int, now: float, reason: str = "") -> list[Action]:
        """The connection is gone; tell the rooms it was in."""
        self._pending.pop(conn, None)
        self._local.discard(conn)
        self._sources.pop(conn, None)
        peer = self._peers.pop(conn, None)
        if peer is None or not peer.registered:
            return []
        if peer.holder:
            return self._detach(peer)
        if peer.send_only and peer.secondaries:  # the nick stays, unseen (host_secondary)
            return self._promote(peer)
        del self._nicks[peer.nick.casefold()]
        self.moderation.remember(peer.nick, peer.key)
        actions: list[Action] = []
        for key in reversed(peer.rooms):
            room = self._rooms[key]
            room.remove(conn)
            if room.members:
                why = reason[: p.MAX_SHORT]
                left = p.Left(peer.nick, room.name, len(room.members), why, peer.send_only)
                actions.append(Broadcast(self._hearing(room), encode(left)))
            elif key != LOBBY:
                del self._rooms[key]
        actions.append(Log(f"{peer.nick} left ({reason or 'disconnected'})"))
        return actions + self._drop_secondaries(peer, "your session under this nick ended")

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
        if peer.yielded:  # a send that made way for its chat (host/secondary.py)
            return self._after_yield(peer, payload)
        try:
            packet = decode_from_client(payload)
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
        if type(packet) is p.Seal and peer.registered:  # the commonest, called directly
            return self._seal(peer, packet, now)
        handler = self._handlers.get(type(packet))
        if handler is not None:
            if not peer.registered:
                raise RemoteProtocolError("say hello first", "not_registered")
            return handler(peer, packet, now)
        if isinstance(packet, p.Ping):
            return self._ask(peer, packet.id, now) or [Send(peer.conn, encode(p.Pong(packet.id)))]
        if isinstance(packet, p.Bye):
            return [Close(peer.conn, f"quit: {packet.reason}" if packet.reason else "quit")]
        if isinstance(packet, p.Hello):
            return self._hello(peer, packet, now)
        raise RemoteProtocolError(f"{packet.TYPE} is not valid here", "unknown_packet")

    def _hello(self, peer: Participant, hello: p.Hello, now: float) -> list[Action]:
        if peer.registered:
            raise RemoteProtocolError("already registered", "bad_packet")
        folded = hello.nick.casefold()
        actions: list[Action] = []
        holder = self._nicks.get(folded)
        if holder is not None and self._peers[holder].key != peer.key:
            return self._fatal(peer.conn, "nick_taken", f"the nick {hello.nick} is taken")
        if not self.registrations.allow(self._sources.get(peer.conn, ""), now):
            # Everyone would hear it come and go: a loop of these is bounded per address.
            # Not fatal: the same connection may say hello again later.
            return self._refuse(peer, None, now, TOO_MANY_CONNECTIONS)
        if MOVING in hello.caps:  # the same session, onto this connection (host/move.py)
            return self._move(peer, self._peers.get(holder or 0), hello, now)
        send_only = SEND_ONLY in hello.caps
        if holder is not None and send_only:  # beside the holder, not instead of it
            return self._attach(peer, self._peers[holder], hello)
        if holder is not None:  # the same identity reconnecting, or a chat beside sends
            actions, hello = self._take_over(self._peers[holder], hello, now)
        if self.participant_count >= self.config.max_clients:
            return self._fatal(peer.conn, "host_full", "the host is full")
        peer.nick = hello.nick
        peer.caps = hello.caps
        peer.send_only = send_only
        peer.registered_at = now
        self._nicks[folded] = peer.conn
        lobby = self._rooms[LOBBY]
        lobby.members[peer.conn] = None
        peer.rooms[LOBBY] = None
        others = self._hearing(lobby, but=peer.conn)
        if others:
            joined = p.Joined(peer.nick, LOBBY, len(lobby.members), peer.key, send_only)
            actions.append(Broadcast(others, encode(joined)))
        rejoined: list[str] = []
        for room in hello.rooms:
            if room.casefold() != LOBBY and self._room_refusal(peer, room) is None:
                self._enter(peer, room, actions)
                name = self._rooms[room.casefold()].name
                if name not in rejoined:
                    rejoined.append(name)
        actions[:0] = self._welcome(peer, tuple(rejoined))
        actions.append(Log(f"{peer.nick} joined"))
        return actions

    def _seal(self, peer: Participant, seal: p.Seal, now: float) -> list[Action]:
        """Relay an end-to-end encrypted room message to the room's other members."""
        room = self._rooms.get(seal.room.casefold())
        holder = peer.holder or peer.conn  # a secondary speaks where its holder is
        if room is None or holder not in room.members:
            return self._reply_error(
                peer.conn, seal.id, "not_member", f"you are not in {seal.room}"
            )
        data = seal.data
        refused = self._too_long(peer, seal.id, data) or self._spend(
            peer, seal.id, now, peer.bucket, len(data)
        )
        if refused:
            return refused
        members = tuple(room.members)  # all but the sender: by slices, not a Python loop
        at = members.index(holder)
        others = members[:at] + members[at + 1 :]
        if peer.via:  # only those that can tell it from its holder (host_secondary)
            others = tuple(c for c in others if self._knows(c))
        ok = Send(peer.conn, encode_ok(seal.id))
        if not others:
            return [ok]
        # The members' copies first: connections are flushed in the order written to.
        sealed = encode_sealed(peer.nick, room.name, data, now, peer.via)
        return [Broadcast(others, sealed), ok]

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
        refused = self._spend(peer, relay.id, now, bucket, len(relay.data))
        if refused:
            return refused
        if relay.via or peer.via or self._peers[target].via:
            return self._route(peer, target, relay)
        relayed = encode_relayed(peer.nick, relay.kind, relay.data)
        return [Send(target, relayed), Send(peer.conn, encode_ok(relay.id))]

    def _room_refusal(self, peer: Participant, name: str) -> str | None:
        """Why ``peer`` may not enter room ``name`` (None: it may, or is in it): the
        host's room cap, and the per-participant and per-address ones (room_shares)
        that keep one participant, or one address, from taking every room."""
        room = self._rooms.get(name.casefold())
        if room is not None and peer.conn in room.members:
            return None
        if len(peer.rooms) > self.config.max_rooms_per_user:  # the lobby is not counted
            return f"you are in {self.config.max_rooms_per_user} rooms already; part one first"
        if room is None and self.room_count >= self.config.max_rooms:
            return "the host has too many rooms"
        return None if room is not None else self._source_refusal(peer)

    def _enter(self, peer: Participant, name: str, actions: list[Action]) -> None:
        """Add ``peer`` to room ``name``, creating it (``_room_refusal`` said it may)."""
        key = name.casefold()
        room = self._rooms.get(key)
        if room is None:
            room = self._rooms[key] = Room(name, source=self._sources.get(peer.conn, ""))
        if peer.conn in room.members:
            return
        room.members[peer.conn] = None
        peer.rooms[key] = None
        others = self._hearing(room, but=peer.conn)
        if others:
            joined = p.Joined(peer.nick, room.name, len(room.members), peer.key, peer.send_only)
            actions.append(Broadcast(others, encode(joined)))

    def _join(self, peer: Participant, join: p.Join, now: float) -> list[Action]:
        request, name = join.id, join.room
        key = name.casefold()
        if key == LOBBY:
            return self._names(peer, p.Names(request, LOBBY))
        if peer.holder:
            return self._join_secondary(peer, join)
        refusal = self._room_refusal(peer, name)
        if refusal is not None:
            return self._reply_error(peer.conn, request, "too_many_rooms", refusal)
        room = self._rooms.get(key)
        if room is not None and room.members and peer.conn not in room.members:
            refused = self._change(peer, request, now)  # the members will hear of it
            if refused:
                return refused
        actions: list[Action] = []
        self._enter(peer, name, actions)
        room = self._rooms[key]
        users = tuple(self._peers[c].nick for c in room.members)
        actions.insert(0, Send(peer.conn, encode(p.Users(request, room.name, users))))
        return actions

    def _part(self, peer: Participant, part: p.Part, now: float) -> list[Action]:
        key = part.room.casefold()
        room = self._rooms.get(key)
        if key == LOBBY:
            return self._reply_error(peer.conn, part.id, "bad_room", "nobody leaves the lobby")
        if peer.holder:  # in its holder's rooms as long as the holder is
            return [Send(peer.conn, encode(p.Ok(part.id)))]
        if room is None or peer.conn not in room.members:
            return self._reply_error(
                peer.conn, part.id, "not_member", f"you are not in {part.room}"
            )
        if len(room.members) > 1:  # the others will hear of it
            refused = self._change(peer, part.id, now)
            if refused:
                return refused
        room.remove(peer.conn)
        del peer.rooms[key]
        actions: list[Action] = [Send(peer.conn, encode(p.Ok(part.id)))]
        if room.members:
            left = p.Left(peer.nick, room.name, len(room.members), "", peer.send_only)
            actions.append(Broadcast(self._hearing(room), encode(left)))
        else:
            del self._rooms[key]
        return actions
