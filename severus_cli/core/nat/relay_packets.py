"""Packets of the relay's control channel: msgpack maps like the chat's (PROTOCOL.md
section "Relay"), with their own small tables so neither side accepts the other's.

They travel in the relay hop session (TLS + Noise, like a host's), so the relay knows
every peer by its identity key: a host can only register its own key. Pure code.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from severus_cli.core.wire.fields import Blob, Bool, Int, Kind, Optional, Text
from severus_cli.core.wire.packets import MAX_SHORT, Packet, decode

TOKEN_SIZE = 16
Address = tuple[str, int]


@dataclass(frozen=True)
class Addr(Kind):
    """A UDP endpoint: ``[ip, port]``, an IPv4 or IPv6 literal and a port 1-65535."""

    def check(self, value: Any) -> Any:
        if type(value) is not list or len(value) != 2:
            raise ValueError("must be [ip, port]")
        host, port = value
        if type(host) is not str or len(host) > 45 or type(port) is not int:
            raise ValueError("must be [ip, port]")
        if not 0 < port < 65536:
            raise ValueError("port out of range")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError("not an IP address") from None
        return (str(ip), port)


def format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --- client -> relay ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Register(Packet):
    """A host registers its own identity key; sent again when its UDP endpoint changes."""

    TYPE = "reg"
    SCHEMA = {"udp": Optional(Addr())}
    udp: Address | None = None


@dataclass(frozen=True, slots=True)
class PunchRequest(Packet):
    """A joiner asks host ``key`` to punch towards the joiner's public endpoint."""

    TYPE = "punch"
    SCHEMA = {"key": Blob(32), "udp": Addr()}
    key: bytes
    udp: Address


@dataclass(frozen=True, slots=True)
class Dial(Packet):
    """A joiner asks for a relayed byte pipe to host ``key``."""

    TYPE = "dial"
    SCHEMA = {"key": Blob(32)}
    key: bytes


@dataclass(frozen=True, slots=True)
class Accept(Packet):
    """A host's data connection, answering an ``open``."""

    TYPE = "accept"
    SCHEMA = {"token": Blob(TOKEN_SIZE)}
    token: bytes


@dataclass(frozen=True, slots=True)
class RelayPing(Packet):
    TYPE = "ping"
    SCHEMA = {"id": Int()}
    id: int


# --- relay -> client ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registered(Packet):
    """The registration stands; ``udp`` is the endpoint the relay will hand out."""

    TYPE = "registered"
    SCHEMA = {"udp": Optional(Addr())}
    udp: Address | None = None


@dataclass(frozen=True, slots=True)
class Peer(Packet):
    """Answer to ``punch``: the host's public UDP endpoint (nil: it has none)."""

    TYPE = "peer"
    SCHEMA = {"udp": Optional(Addr())}
    udp: Address | None = None


@dataclass(frozen=True, slots=True)
class PunchTo(Packet):
    """To a host: joiner ``key`` is punching from ``udp``; send a few packets there."""

    TYPE = "punchto"
    SCHEMA = {"key": Blob(32), "udp": Addr()}
    key: bytes
    udp: Address


@dataclass(frozen=True, slots=True)
class Open(Packet):
    """To a host: open a data connection and send ``accept`` with this token."""

    TYPE = "open"
    SCHEMA = {"token": Blob(TOKEN_SIZE), "key": Blob(32)}
    token: bytes
    key: bytes  # the joiner's identity key, for the host's log


@dataclass(frozen=True, slots=True)
class Spliced(Packet):
    """Both ends are paired: every byte after this frame is the other side's."""

    TYPE = "spliced"
    SCHEMA: ClassVar[dict[str, Kind]] = {}


@dataclass(frozen=True, slots=True)
class RelayError(Packet):
    TYPE = "err"
    SCHEMA = {"code": Text(32, 1), "msg": Text(MAX_SHORT), "fatal": Bool()}
    code: str
    msg: str
    fatal: bool = True  # false: the request failed, the connection stays


@dataclass(frozen=True, slots=True)
class RelayPong(Packet):
    TYPE = "pong"
    SCHEMA = {"id": Int()}
    id: int


CLIENT_TO_RELAY: dict[str, type[Packet]] = {
    p.TYPE: p for p in (Register, PunchRequest, Dial, Accept, RelayPing)
}
RELAY_TO_CLIENT: dict[str, type[Packet]] = {
    p.TYPE: p for p in (Registered, Peer, PunchTo, Open, Spliced, RelayError, RelayPong)
}


def decode_from_client(data: bytes) -> Packet:
    return decode(data, CLIENT_TO_RELAY)


def decode_from_relay(data: bytes) -> Packet:
    return decode(data, RELAY_TO_CLIENT)
