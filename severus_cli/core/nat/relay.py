"""The relay's decisions, sans-IO: registrations, punch requests, relayed pairs, caps.

The asyncio adapter (``severus_cli.net.relay_server``) owns the sockets and the hop
sessions; it tells :class:`RelayCore` what happened (a connection opened, a peer
authenticated with key K, a packet arrived, time passed) and carries out the actions
it gets back. Nothing here reads a clock or touches a socket, so every rule, cap and
timeout is tested with plain calls.

The relay never sees content: a relayed pair is two byte pipes spliced together, and
what flows through them is the participant's own TLS + Noise session with the host.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.limits.sources import source_key
from severus_cli.core.nat.relay_packets import (
    Accept,
    Address,
    Dial,
    Open,
    Peer,
    PunchRequest,
    PunchTo,
    Register,
    Registered,
    RelayError,
    RelayPing,
    RelayPong,
    Spliced,
    decode_from_client,
    format_address,
)
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire.packets import Packet, encode
from severus_cli.errors import RemoteProtocolError


@dataclass(frozen=True, slots=True)
class RelayConfig:
    max_per_ip: int = 32  # connections at once from one address or IPv6 /64 (a household)
    max_conns: int = 4096
    handshake_timeout: float = 10.0  # TLS + Noise + the first packet
    idle_timeout: float = 60.0  # control connections ping every 15 s
    dial_timeout: float = 10.0  # for the host to answer an ``open``
    max_pending: int = 8  # dials waiting on one host
    punch_burst: float = 4.0  # punch requests per joiner connection ...
    punch_rate: float = 1.0  # ... then this many per second
    punch_source_burst: float = 8.0  # punch requests from one address or /64, however
    punch_source_rate: float = 2.0  # many connections and keys it uses
    allow: frozenset[str] | None = None  # host fingerprints allowed to register; None: any
    bandwidth: float = 0.0  # bytes/s each way per relayed pair; 0: unlimited


@dataclass(frozen=True, slots=True)
class SendTo:
    conn: int
    data: bytes  # an encoded packet, for the connection's hop session


@dataclass(frozen=True, slots=True)
class Close:
    conn: int
    reason: str


@dataclass(frozen=True, slots=True)
class Splice:
    """From now on, bytes from ``a`` go to ``b`` and back, unread."""

    a: int
    b: int


@dataclass(frozen=True, slots=True)
class Note:
    """A log line: who did what, never content."""

    text: str


RelayAction = SendTo | Close | Splice | Note


class Role(enum.Enum):
    NEW = "new"  # handshaking, or authenticated with no request yet
    HOST = "host"  # a registered host's control connection
    JOINER = "joiner"  # has asked for punching; may still dial
    DIALING = "dialing"  # waiting for the host's data connection
    SPLICED = "spliced"


@dataclass(slots=True)
class _Conn:
    ip: str
    source: str  # what the per-address caps count: the IP, or its IPv6 /64
    opened: float
    last: float
    punches: TokenBucket
    key: bytes | None = None
    role: Role = Role.NEW
    udp: Address | None = None
    partner: int | None = None
    token: bytes | None = None

    @property
    def who(self) -> str:
        return f"{fingerprint(self.key)[:19]} ({self.ip})" if self.key else self.ip


@dataclass(slots=True)
class _Dial:
    joiner: int
    host_key: bytes
    deadline: float


@dataclass
class RelayCore:
    config: RelayConfig
    token: Callable[[], bytes] = field(default=lambda: os.urandom(16))
    conns: dict[int, _Conn] = field(default_factory=dict)
    hosts: dict[bytes, int] = field(default_factory=dict)
    pending: dict[bytes, _Dial] = field(default_factory=dict)
    _per_ip: dict[str, int] = field(default_factory=dict)
    _refused: dict[str, int] = field(default_factory=dict)
    _refused_since: float = 0.0
    _stun: dict[str, TokenBucket] = field(default_factory=dict)
    _punch_sources: dict[str, TokenBucket] = field(default_factory=dict)

    # --- what the adapter reports -------------------------------------------------------

    def open(self, conn: int, ip: str, now: float) -> list[RelayAction]:
        """A TCP connection arrived; [Close] if it is over a cap (before any TLS). An IPv6
        /64 counts as one address, as on the host: one subscriber usually has one."""
        source = source_key(ip)
        if self._per_ip.get(source, 0) >= self.config.max_per_ip:
            return self._refuse(conn, ip, "too many connections from this address")
        if len(self.conns) >= self.config.max_conns:
            return self._refuse(conn, ip, "the relay is full")
        bucket = TokenBucket(self.config.punch_burst, self.config.punch_rate, now)
        self.conns[conn] = _Conn(ip, source, now, now, bucket)
        self._per_ip[source] = self._per_ip.get(source, 0) + 1
        return []

    def authenticated(self, conn: int, key: bytes, now: float) -> list[RelayAction]:
        state = self.conns.get(conn)
        if state is not None:
            state.key = key
            state.last = now
        return []

    def receive(self, conn: int, payload: bytes, now: float) -> list[RelayAction]:
        """One decrypted packet from ``conn``."""
        state = self.conns.get(conn)
        if state is None or state.key is None or state.role is Role.SPLICED:
            return []
        state.last = now
        try:
            packet = decode_from_client(payload)
        except RemoteProtocolError as error:
            return self._fail(conn, error.code, error.message)
        match packet:
            case RelayPing(id=ident):
                return [self._send(conn, RelayPong(ident))]
            case _ if state.role is Role.DIALING:
                return self._fail(conn, "bad_state", "wait for spliced or err after dial")
            case Register(udp=udp):
                return self._register(conn, state, udp)
            case PunchRequest(key=key, udp=udp):
                return self._punch(conn, state, key, udp, now)
            case Dial(key=key):
                return self._dial(conn, state, key, now)
            case Accept(token=token):
                return self._accept(conn, state, token, now)
        return self._fail(conn, "unknown_packet", f"{packet.TYPE} is not for the relay")

    def closed(self, conn: int, now: float) -> list[RelayAction]:
        """The adapter lost ``conn`` (either side closed it)."""
        state = self.conns.pop(conn, None)
        if state is None:
            return []
        left = self._per_ip[state.source] - 1
        if left:
            self._per_ip[state.source] = left
        else:
            del self._per_ip[state.source]
        actions: list[RelayAction] = []
        if state.role is Role.HOST and state.key is not None:
            if self.hosts.get(state.key) == conn:
                del self.hosts[state.key]
                actions.append(Note(f"host {state.who} unregistered"))
                for token, dial in list(self.pending.items()):
                    if dial.host_key == state.key:
                        del self.pending[token]
                        actions += self._fail(dial.joiner, "host_gone", "the host went away")
        elif state.role is Role.DIALING and state.token is not None:
            self.pending.pop(state.token, None)
        elif state.role is Role.SPLICED and state.partner in self.conns:
            assert state.partner is not None
            actions.append(Close(state.partner, "the other side closed"))
            actions.append(Note(f"relayed pair ended after {now - state.opened:.0f} s"))
        return actions

    def tick(self, now: float) -> list[RelayAction]:
        """Timeouts: handshakes, idle control connections, unanswered dials."""
        config = self.config
        actions: list[RelayAction] = []
        for conn, state in list(self.conns.items()):
            if state.role is Role.NEW and now - state.opened > config.handshake_timeout:
                actions += self._fail(conn, "timeout", "no request in time")
            elif state.role in (Role.HOST, Role.JOINER) and now - state.last > config.idle_timeout:
                actions += self._fail(conn, "timeout", "idle for too long")
        for token, dial in list(self.pending.items()):
            if now > dial.deadline:
                del self.pending[token]
                actions += self._fail(dial.joiner, "timeout", "the host did not answer in time")
        if now - self._refused_since > 60.0:
            self._refused.clear()
            self._punch_sources.clear()  # (a full bucket is as good as a fresh one)
            self._refused_since = now
        return actions

    def stun_allowed(self, ip: str, now: float) -> bool:
        """Whether to answer a STUN request from ``ip``: 20 at once, then 5 a second, so
        the UDP port cannot be used to reflect a flood at someone else (an IPv6 /64 is
        one someone)."""
        source = source_key(ip)
        bucket = self._stun.get(source)
        if bucket is None:
            if len(self._stun) >= 10000:
                self._stun.clear()  # crude but bounded; honest clients retry
            bucket = self._stun[source] = TokenBucket(20.0, 5.0, now)
        return bucket.take(now)

    @property
    def relayed_pairs(self) -> int:
        return sum(1 for s in self.conns.values() if s.role is Role.SPLICED) // 2

    # --- requests -----------------------------------------------------------------------

    def _register(self, conn: int, state: _Conn, udp: Address | None) -> list[RelayAction]:
        key = state.key
        assert key is not None
        if state.role not in (Role.NEW, Role.HOST):
            return self._fail(conn, "bad_state", "a joiner connection cannot register")
        allow = self.config.allow
        if allow is not None and fingerprint(key) not in allow:
            note = Note(f"refused host {state.who}: not on the allow-list")
            return [note, *self._fail(conn, "not_allowed", "this relay does not serve that key")]
        actions: list[RelayAction] = []
        previous = self.hosts.get(key)
        if previous is not None and previous != conn:
            actions += self._fail(previous, "replaced", "the same host registered again")
        changed = state.role is not Role.HOST or udp != state.udp
        self.hosts[key] = conn
        state.role = Role.HOST
        state.udp = udp
        if changed:
            where = format_address(udp) if udp else "none"
            actions.append(Note(f"host {state.who} registered, public UDP {where}"))
        actions.append(self._send(conn, Registered(udp)))
        return actions

    def _punch(
        self, conn: int, state: _Conn, key: bytes, udp: Address, now: float
    ) -> list[RelayAction]:
        if state.role not in (Role.NEW, Role.JOINER):
            return self._fail(conn, "bad_state", "a host connection cannot punch")
        state.role = Role.JOINER
        host = self._host(key)
        if host is None:
            return self._fail(conn, "no_such_host", "no host with that key is registered here")
        if source_key(udp[0]) != state.source:
            # The host would send its punches wherever ``udp`` says: only to the
            # requester's own address (or /64), or strangers could aim it at anyone.
            message = "punch only towards the address you connect from"
            return [self._send(conn, RelayError("bad_address", message, False))]
        if not state.punches.take(now) or not self._source_bucket(state.source, now).take(now):
            return [self._send(conn, RelayError("rate_limited", "too many punch requests", False))]
        assert state.key is not None
        actions: list[RelayAction] = [self._send(conn, Peer(host.udp))]
        if host.udp is not None:
            actions.insert(0, self._send(self.hosts[key], PunchTo(state.key, udp)))
            actions.append(Note(f"punch {state.who} -> host {host.who}"))
        return actions

    def _dial(self, conn: int, state: _Conn, key: bytes, now: float) -> list[RelayAction]:
        if state.role not in (Role.NEW, Role.JOINER):
            return self._fail(conn, "bad_state", "a host connection cannot dial")
        host = self._host(key)
        if host is None:
            return self._fail(conn, "no_such_host", "no host with that key is registered here")
        waiting = sum(1 for d in self.pending.values() if d.host_key == key)
        if waiting >= self.config.max_pending:
            return self._fail(conn, "busy", "too many joiners are waiting for that host")
        token = self.token()
        assert state.key is not None
        self.pending[token] = _Dial(conn, key, now + self.config.dial_timeout)
        state.role = Role.DIALING
        state.token = token
        return [
            self._send(self.hosts[key], Open(token, state.key)),
            Note(f"dial {state.who} -> host {host.who}"),
        ]

    def _accept(self, conn: int, state: _Conn, token: bytes, now: float) -> list[RelayAction]:
        dial = self.pending.get(token)
        if state.role is not Role.NEW or dial is None or dial.host_key != state.key:
            return self._fail(conn, "bad_token", "no such dial is waiting for this host")
        del self.pending[token]
        joiner = self.conns[dial.joiner]
        for end, partner in ((joiner, conn), (state, dial.joiner)):
            end.role = Role.SPLICED
            end.partner = partner
            end.opened = now
        return [
            self._send(dial.joiner, Spliced()),
            self._send(conn, Spliced()),
            Splice(dial.joiner, conn),
            Note(f"relaying {joiner.who} <-> host {state.who}"),
        ]

    # --- helpers ------------------------------------------------------------------------

    def _host(self, key: bytes) -> _Conn | None:
        conn = self.hosts.get(key)
        return None if conn is None else self.conns.get(conn)

    def _source_bucket(self, source: str, now: float) -> TokenBucket:
        """The punch allowance of one address or /64, across all its connections."""
        bucket = self._punch_sources.get(source)
        if bucket is None:
            if len(self._punch_sources) >= 10000:
                self._punch_sources.clear()  # crude but bounded, as for STUN
            config = self.config
            bucket = TokenBucket(config.punch_source_burst, config.punch_source_rate, now)
            self._punch_sources[source] = bucket
        return bucket

    def _send(self, conn: int, packet: Packet) -> SendTo:
        return SendTo(conn, encode(packet))

    def _fail(self, conn: int, code: str, message: str) -> list[RelayAction]:
        return [self._send(conn, RelayError(code, message, True)), Close(conn, message)]

    def _refuse(self, conn: int, ip: str, reason: str) -> list[RelayAction]:
        """Refuse without logging every attempt of a flood: 1st, 2nd, 4th, 8th ..."""
        count = self._refused.get(ip, 0) + 1
        if len(self._refused) < 10000 or ip in self._refused:
            self._refused[ip] = count
        actions: list[RelayAction] = [Close(conn, reason)]
        if count & (count - 1) == 0:
            actions.append(Note(f"refused {ip}: {reason} ({count} in the last minute)"))
        return actions


class Pacer:
    """The optional bandwidth cap of one direction of a relayed pair: after reading
    ``n`` bytes, how long to stop reading. One second of burst, then ``rate``."""

    __slots__ = ("_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, now: float) -> None:
        self._rate = rate
        self._tokens = rate
        self._stamp = now

    def charge(self, nbytes: int, now: float) -> float:
        if self._rate <= 0:
            return 0.0
        self._tokens = min(self._rate, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= nbytes
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate
