"""Packets a client sends to its host (PROTOCOL.md section 4), ``bye`` included,
which both sides send."""

from __future__ import annotations

from dataclasses import dataclass

from severus_cli.core.wire.fields import Absent, Bin, Int, ListOf, Name, Text, Word
from severus_cli.core.wire.packet_base import MAX_DATA, MAX_SHORT, MAX_VIA, Packet


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
