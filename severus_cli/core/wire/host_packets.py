"""Packets a host sends to its participants (PROTOCOL.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from severus_cli.core.wire.fields import (
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
from severus_cli.core.wire.packet_base import (
    MAX_DATA,
    MAX_SHORT,
    MAX_VIA,
    ROSTER_PAGE,
    Limits,
    Packet,
    RateLimits,
)


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
    limits: RateLimits = RateLimits()  # noqa: RUF009 (frozen: safe to share)
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


@dataclass(slots=True)
class Moved(Packet):
    """The session moved (4.8): on the old connection, nothing follows; on the new one,
    it is the answer to the moving ``hello``. Only to a client whose hello lists ``move``."""

    TYPE = "moved"
    SCHEMA: ClassVar[dict[str, Kind]] = {}
