"""NAT-PMP (RFC 6886): the older of the two port-mapping protocols on UDP port 5351.

Apple's protocol, still what many routers answer (miniupnpd, most of OpenWrt's).
Two requests matter: the router's external address (opcode 0), and a mapping (opcode
1 for UDP, 2 for TCP); a lifetime of 0 deletes one. Replies are fixed-size, so the
decoders accept exactly that size and nothing else.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from severus_cli.core.nat.portmap import TCP, UDP, PortmapError

PORT = 5351
VERSION = 0
OP_EXTERNAL = 0
_OP_MAP = {UDP: 1, TCP: 2}
_REPLY = 128
EXTERNAL_REPLY_SIZE = 12
MAP_REPLY_SIZE = 16

RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized (port mapping is turned off on the router)",
    3: "network failure (the router has no public address: behind another NAT?)",
    4: "out of resources (no ports left to map)",
    5: "unsupported opcode",
}


@dataclass(frozen=True, slots=True)
class NatPmpReply:
    """A decoded reply: ``result`` 0 is success; ``external`` for opcode 0, the
    mapped port and lifetime for mappings."""

    op: int
    result: int
    epoch: int
    external: str | None = None
    internal_port: int = 0
    port: int = 0
    lifetime: int = 0


def result_words(code: int) -> str:
    return RESULTS.get(code, f"result code {code}")


def external_request() -> bytes:
    return bytes([VERSION, OP_EXTERNAL])


def map_request(protocol: str, internal_port: int, external_port: int, lifetime: int) -> bytes:
    """Ask for ``internal_port`` (``external_port`` is a wish the router may ignore);
    ``lifetime`` 0 with ``external_port`` 0 deletes the mapping."""
    if protocol not in _OP_MAP:
        raise ValueError(f"unknown protocol {protocol!r}")
    if not (0 < internal_port < 65536 and 0 <= external_port < 65536 and 0 <= lifetime < 2**32):
        raise ValueError("port or lifetime out of range")
    return struct.pack("!BBHHHI", VERSION, _OP_MAP[protocol], 0, internal_port,
                       external_port, lifetime)  # fmt: skip


def decode(data: bytes) -> NatPmpReply:
    """A reply of either kind; PortmapError unless it is exactly one."""
    if len(data) < 4:
        raise PortmapError("NAT-PMP reply too short")
    version, op, result = struct.unpack_from("!BBH", data)
    if version != VERSION:
        raise PortmapError(f"not a NAT-PMP reply (version {version})")
    if op < _REPLY:
        raise PortmapError("a NAT-PMP request, not a reply")
    if result != 0 and len(data) in (8, EXTERNAL_REPLY_SIZE, MAP_REPLY_SIZE):
        # Refusals may be cut short (RFC 6886 §3.5 lets servers send just the header).
        epoch = struct.unpack_from("!I", data, 4)[0] if len(data) >= 8 else 0
        return NatPmpReply(op - _REPLY, result, epoch)
    if op == _REPLY + OP_EXTERNAL:
        if len(data) != EXTERNAL_REPLY_SIZE:
            raise PortmapError(f"NAT-PMP address reply of {len(data)} bytes")
        epoch = struct.unpack_from("!I", data, 4)[0]
        return NatPmpReply(OP_EXTERNAL, result, epoch, socket.inet_ntoa(data[8:12]))
    if op - _REPLY in _OP_MAP.values():
        if len(data) != MAP_REPLY_SIZE:
            raise PortmapError(f"NAT-PMP mapping reply of {len(data)} bytes")
        epoch, internal, port, lifetime = struct.unpack_from("!IHHI", data, 4)
        if result == 0 and (internal == 0 or (port == 0 and lifetime != 0)):
            raise PortmapError("NAT-PMP mapping reply without a port")
        return NatPmpReply(op - _REPLY, result, epoch, None, internal, port, lifetime)
    raise PortmapError(f"unknown NAT-PMP opcode {op}")


def protocol_of(op: int) -> str | None:
    for protocol, code in _OP_MAP.items():
        if code == op:
            return protocol
    return None
