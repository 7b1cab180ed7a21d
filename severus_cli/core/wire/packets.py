"""Packets: msgpack maps with a type tag ``t``, every field typed and bounded.

Each packet is a slotted dataclass. :func:`decode` validates a packet received in one
direction (client-to-host or host-to-client) and raises RemoteProtocolError with a
machine-readable code for anything malformed, so one hostile peer only ever costs
its own connection. PROTOCOL.md documents every packet listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import msgpack

from severus_cli.core.wire.fields import (
    MAX_LIST,
    NAME_RE,
    Absent,
    Bin,
    Blob,
    Bool,
    Float,
    Int,
    Kind,
    ListOf,
    Name,
    Optional,
    Pair,
    Text,
    Word,
)
from severus_cli.errors import LocalProtocolError, RemoteProtocolError

LOBBY = "lobby"
MAX_TEXT = 16384  # characters in one message (checked by clients: the host sees ciphertext)
ROSTER_PAGE = 500  # (nick, key) pairs per welcome or roster packet: fits with 32-char nicks
MAX_DATA = 65000  # bytes of opaque end-to-end data in one seal or relay
MIN_DATA = 512  # the lowest max_data a host may announce
MAX_SHORT = 300  # reasons, error messages, client names
MAX_PACKET = 65535  # one frame (PROTOCOL.md section 2)
# Send-only connections that may share one nick (and key) with its holder at once,
# told apart on the wire by ``via`` 1..MAX_VIA (PROTOCOL.md 4.7); 0 is the holder.
MAX_VIA = 8


def valid_nick(nick: str) -> bool:
    return NAME_RE.fullmatch(nick) is not None


def valid_room(room: str) -> bool:
    return NAME_RE.fullmatch(room) is not None


# --- packets -----------------------------------------------------------------------


class Packet:
    """Base of every packet: ``TYPE`` is the wire tag, ``SCHEMA`` the field checks.

    Packets are plain slotted dataclasses, not frozen ones: a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, three times slower,
    and the host makes several packets per message it relays. Nothing mutates them.
    """

    TYPE: ClassVar[str]
    SCHEMA: ClassVar[dict[str, Kind]]

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"t": self.TYPE}
        absent = _absent(type(self))
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if absent and name in absent and value == absent[name]:
                continue  # an optional field at its default is left out (older peers)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, RateLimits):
                value = value.to_wire()
            wire[name] = value
        return wire


_FIELD_NAMES: dict[type[Packet], tuple[str, ...]] = {}


def _field_names(cls: type[Packet]) -> tuple[str, ...]:
    """A packet class's field names, in order; cached (``fields()`` is slow per call)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    return names


_ABSENT: dict[type[Packet], dict[str, Any]] = {}


def _absent(cls: type[Packet]) -> dict[str, Any]:
    """The optional fields of ``cls`` and their defaults; cached."""
    found = _ABSENT.get(cls)
    if found is None:
        found = _ABSENT[cls] = {
            n: k.default for n, k in cls.SCHEMA.items() if isinstance(k, Absent)
        }
    return found


@dataclass(frozen=True, slots=True)
class RateLimits:
    """What the host enforces, so well-behaved clients can pace themselves."""

    burst: float = 30.0  # messages sent at once
    rate: float = 10.0  # messages per second after that
    max_text: int = MAX_TEXT
    max_data: int = MAX_DATA  # bytes of data in one seal or relay

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"burst": self.burst, "rate": self.rate, "max_text": self.max_text}
        if self.max_data != MAX_DATA:  # optional: only a host with a lower limit sends it
            wire["max_data"] = self.max_data
        return wire


@dataclass(frozen=True)
class Limits(Kind):
    def check(self, value: Any) -> Any:
        if type(value) is not dict or len(value) > 8:
            raise ValueError("must be a map")
        try:
            burst = Float().check(value["burst"])
            rate = Float().check(value["rate"])
            max_text = Int(1, MAX_TEXT).check(value["max_text"])
            max_data = Int(MIN_DATA, MAX_DATA).check(value.get("max_data", MAX_DATA))
        except KeyError as missing:
            raise ValueError(f"lacks {missing}") from None
        if not (1 <= burst <= 1e6 and 0.01 <= rate <= 1e6):
            raise ValueError("burst or rate out of range")
        return RateLimits(burst, rate, max_text, max_data)


# client -> host


@dataclass(slots=True)
class Hello(Packet):
    TYPE = "hello"
    SCHEMA = {
        "nick": Name(),
        "client": Text(64),
        "rooms": ListOf(Name(), 64),
        "caps": Absent(ListOf(Word(), 16)),
    }
    nick: str
    client: str
    rooms: tuple[str, ...] = ()
    caps: tuple[str, ...] = ()  # optional: what this client understands (CAPS)


@dataclass(slots=True)
class Seal(Packet):
    """A room message, end-to-end encrypted by its sender: opaque to the host."""

    TYPE = "seal"
    SCHEMA = {"id": Int(), "room": Name(), "data": Bin(MAX_DATA, 1)}
    id: int
    room: str
    data: bytes


@dataclass(slots=True)
class Relay(Packet):
    """An opaque blob for one participant (pairwise handshake, key, private message)."""

    TYPE = "relay"
    SCHEMA = {
        "id": Int(),
        "to": Name(),
        "kind": Word(),
        "data": Bin(MAX_DATA, 1),
        "via": Absent(Int(0, MAX_VIA), 0),
    }
    id: int
    to: str
    kind: str
    data: bytes
    via: int = 0  # optional: which send-only connection of ``to`` (4.7); 0: its holder


@dataclass(slots=True)
class Join(Packet):
    TYPE = "join"
    SCHEMA = {"id": Int(), "room": Name()}
    id: int
    room: str


@dataclass(slots=True)
class Part(Packet):
    TYPE = "part"
    SCHEMA = {"id": Int(), "room": Name()}
    id: int
    room: str


@dataclass(slots=True)
class Names(Packet):
    TYPE = "names"
    SCHEMA = {"id": Int(), "room": Name()}
    id: int
    room: str


@dataclass(slots=True)
class ListRooms(Packet):
    TYPE = "rooms"
    SCHEMA = {"id": Int()}
    id: int


@dataclass(slots=True)
class Whois(Packet):
    TYPE = "whois"
    SCHEMA = {"id": Int(), "nick": Name()}
    id: int
    nick: str


@dataclass(slots=True)
class Ping(Packet):
    TYPE = "ping"
    SCHEMA = {"id": Int()}
    id: int


@dataclass(slots=True)
class Nick(Packet):
    """Change our nick (only to a host whose welcome lists ``nick`` in its caps)."""

    TYPE = "nick"
    SCHEMA = {"id": Int(), "nick": Name()}
    id: int
    nick: str


@dataclass(slots=True)
class Bye(Packet):
    TYPE = "bye"
    SCHEMA = {"reason": Text(MAX_SHORT)}
    reason: str = ""


# host -> client


@dataclass(slots=True)
class Welcome(Packet):
    TYPE = "welcome"
    SCHEMA = {
        "nick": Name(),
        "host": Text(32),
        "users": ListOf(Pair(Name(), Blob(32)), ROSTER_PAGE),
        "rooms": ListOf(Name(), 64),
        "motd": Text(MAX_SHORT * 4),
        "limits": Limits(),
        "caps": Absent(ListOf(Word(), 16)),
    }
    nick: str
    host: str
    users: tuple[tuple[str, bytes], ...]  # (nick, identity key) of everyone connected
    rooms: tuple[str, ...] = ()
    motd: str = ""
    limits: RateLimits = RateLimits()
    caps: tuple[str, ...] = ()  # optional: what this host accepts (CAPS)


@dataclass(slots=True)
class Roster(Packet):
    """More of the lobby's roster, right after a welcome too big for one packet."""

    TYPE = "roster"
    SCHEMA = {"users": ListOf(Pair(Name(), Blob(32)), ROSTER_PAGE)}
    users: tuple[tuple[str, bytes], ...]


@dataclass(slots=True)
class Ok(Packet):
    TYPE = "ok"
    SCHEMA = {"id": Int()}
    id: int

    def to_wire(self) -> dict[str, Any]:  # one per message sent: kept direct
        return {"t": "ok", "id": self.id}


@dataclass(slots=True)
class Error(Packet):
    TYPE = "err"
    SCHEMA = {"id": Optional(Int()), "code": Text(32, 1), "msg": Text(MAX_SHORT), "fatal": Bool()}
    id: int | None
    code: str
    msg: str
    fatal: bool = False


@dataclass(slots=True)
class Sealed(Packet):
    TYPE = "sealed"
    SCHEMA = {
        "from": Name(),
        "room": Name(),
        "data": Bin(MAX_DATA, 1),
        "ts": Float(),
        "via": Absent(Int(0, MAX_VIA), 0),
    }
    sender: str
    room: str
    data: bytes
    ts: float
    via: int = 0  # optional: sent by this send-only connection of ``sender`` (4.7)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "t": "sealed",
            "from": self.sender,
            "room": self.room,
            "data": self.data,
            "ts": self.ts,
        }
        if self.via:
            wire["via"] = self.via
        return wire


@dataclass(slots=True)
class Relayed(Packet):
    TYPE = "relayed"
    SCHEMA = {
        "from": Name(),
        "kind": Word(),
        "data": Bin(MAX_DATA, 1),
        "via": Absent(Int(0, MAX_VIA), 0),
    }
    sender: str
    kind: str
    data: bytes
    via: int = 0  # optional: sent by this send-only connection of ``sender`` (4.7)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "t": "relayed",
            "from": self.sender,
            "kind": self.kind,
            "data": self.data,
        }
        if self.via:
            wire["via"] = self.via
        return wire


@dataclass(slots=True)
class Joined(Packet):
    TYPE = "joined"
    SCHEMA = {
        "nick": Name(),
        "room": Name(),
        "count": Int(),
        "key": Blob(32),
        "quiet": Absent(Bool(), False),
    }
    nick: str
    room: str
    count: int
    key: bytes
    quiet: bool = False  # optional: a send-only connection, shown as no line (4.7)


@dataclass(slots=True)
class Left(Packet):
    TYPE = "left"
    SCHEMA = {
        "nick": Name(),
        "room": Name(),
        "count": Int(),
        "reason": Text(MAX_SHORT),
        "quiet": Absent(Bool(), False),
        "via": Absent(Int(0, MAX_VIA), 0),
    }
    nick: str
    room: str
    count: int
    reason: str = ""
    quiet: bool = False  # optional: a send-only connection, shown as no line (4.7)
    via: int = 0  # optional: only this send-only connection of ``nick`` ended (4.7)


@dataclass(slots=True)
class Users(Packet):
    TYPE = "users"
    SCHEMA = {"id": Int(), "room": Name(), "users": ListOf(Name())}
    id: int
    room: str
    users: tuple[str, ...]


@dataclass(slots=True)
class RoomList(Packet):
    TYPE = "roomlist"
    SCHEMA = {"id": Int(), "rooms": ListOf(Pair(Name(), Int()))}
    id: int
    rooms: tuple[tuple[str, int], ...]


@dataclass(slots=True)
class WhoisReply(Packet):
    TYPE = "whoisreply"
    SCHEMA = {
        "id": Int(),
        "nick": Name(),
        "key": Blob(32),
        "rooms": ListOf(Name(), 64),
        "since": Float(),
    }
    id: int
    nick: str
    key: bytes
    rooms: tuple[str, ...]
    since: float  # seconds connected


@dataclass(slots=True)
class Pong(Packet):
    TYPE = "pong"
    SCHEMA = {"id": Int()}
    id: int


@dataclass(slots=True)
class Renamed(Packet):
    """``old`` is now called ``new`` (same identity key); only to clients whose hello
    lists ``nick`` in its caps."""

    TYPE = "renamed"
    SCHEMA = {"old": Name(), "new": Name()}
    old: str
    new: str


CAPS = ("nick", "via")  # what this version understands: renamed (4.6); via and quiet (4.7)
SEND_ONLY = "sendonly"  # in a hello's caps: this connection only sends (4.7)


CLIENT_PACKETS: dict[str, type[Packet]] = {
    p.TYPE: p for p in (Hello, Seal, Relay, Join, Part, Names, ListRooms, Whois, Ping, Nick, Bye)
}
HOST_PACKETS: dict[str, type[Packet]] = {
    p.TYPE: p
    for p in (
        Welcome,
        Roster,
        Ok,
        Error,
        Sealed,
        Relayed,
        Joined,
        Left,
        Users,
        RoomList,
        WhoisReply,
        Pong,
        Renamed,
        Bye,
    )
}
_WIRE_NAMES = {"from": "sender"}


_PACKER = msgpack.Packer(use_bin_type=True)  # one for all: packb makes one per call


def encode(packet: Packet) -> bytes:
    """Serialise ``packet``; refuse anything a peer would reject."""
    data: bytes = _PACKER.pack(packet.to_wire())
    if len(data) > MAX_PACKET:
        raise LocalProtocolError(f"packet of {len(data)} bytes exceeds {MAX_PACKET}")
    return data


def _unpack(data: bytes) -> dict[str, Any]:
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=MAX_TEXT * 4,
            max_bin_len=MAX_PACKET,
            max_array_len=MAX_LIST,
            max_map_len=16,
            max_ext_len=0,
        )
    except Exception as error:  # msgpack raises several unrelated types
        raise RemoteProtocolError("the packet is not valid msgpack", "bad_packet") from error
    if type(obj) is not dict:
        raise RemoteProtocolError("a packet must be a msgpack map", "bad_packet")
    return obj


def decode(data: bytes, table: dict[str, type[Packet]]) -> Packet:
    """Parse and validate one packet of a kind listed in ``table``."""
    if len(data) > MAX_PACKET:
        raise RemoteProtocolError("packet too large", "too_large")
    obj = _unpack(data)
    tag = obj.pop("t", None)
    cls = table.get(tag) if type(tag) is str else None
    if cls is None:
        raise RemoteProtocolError(f"unknown packet type {tag!r:.40}", "unknown_packet")
    values: dict[str, Any] = {}
    for name, attribute, kind in _plan(cls):
        value = obj.get(name, _MISSING)
        if value is _MISSING and isinstance(kind, Absent):
            values[attribute] = kind.default  # from a peer older than the field
            continue
        if value is _MISSING:
            raise RemoteProtocolError(f"{cls.TYPE}: missing field {name!r}", "bad_packet")
        try:
            values[attribute] = kind.check(value)
        except ValueError as error:
            raise RemoteProtocolError(f"{cls.TYPE}.{name} {error}", "bad_packet") from None
    # Unknown extra fields are ignored so later minor versions can add optional ones.
    return cls(**values)


_MISSING = object()
_PLANS: dict[type[Packet], tuple[tuple[str, str, Kind], ...]] = {}


def _plan(cls: type[Packet]) -> tuple[tuple[str, str, Kind], ...]:
    """(wire name, attribute, check) for each field of ``cls``; cached."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple((n, _WIRE_NAMES.get(n, n), k) for n, k in cls.SCHEMA.items())
        _PLANS[cls] = plan
    return plan


def decode_from_client(data: bytes) -> Packet:
    return decode(data, CLIENT_PACKETS)


def decode_from_host(data: bytes) -> Packet:
    return decode(data, HOST_PACKETS)
