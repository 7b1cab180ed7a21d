"""PCP (RFC 6887): the Port Control Protocol, NAT-PMP's successor on the same port.

A MAP request names our internal port and a 12-byte nonce; the router answers with
the external address and port it gave, and the lifetime. The same nonce renews or
(lifetime 0) deletes the mapping, and proves a reply answers our request. A router
that only speaks NAT-PMP answers a PCP request with a NAT-PMP "unsupported version"
reply (version 0): :func:`decode` reports that as :class:`SpeaksNatPmp`.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from severus_cli.core.nat.portmap import TCP, UDP, PortmapError

PORT = 5351
VERSION = 2
OP_MAP = 1
_RESPONSE = 0x80
HEADER_SIZE = 24
MAP_SIZE = 36
NONCE_SIZE = 12
MAX_MESSAGE = 1100  # RFC 6887 §7: nothing longer is a PCP message
_PROTOCOLS = {TCP: 6, UDP: 17}

RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized (port mapping is turned off, or not allowed for this port)",
    3: "malformed request",
    4: "unsupported opcode",
    5: "unsupported option",
    6: "malformed option",
    7: "network failure (the router has no external address yet)",
    8: "no resources (no ports left to map)",
    9: "unsupported protocol",
    10: "over this user's quota of mappings",
    11: "cannot provide that external port",
    12: "address mismatch (another NAT between us and the router)",
    13: "too many remote peers",
}


class SpeaksNatPmp(PortmapError):
    """The router answered in NAT-PMP: ask it that way instead."""


@dataclass(frozen=True, slots=True)
class PcpReply:
    result: int
    lifetime: int
    epoch: int
    nonce: bytes
    protocol: str
    internal_port: int
    port: int
    external: str


def result_words(code: int) -> str:
    return RESULTS.get(code, f"result code {code}")


def _ip16(address: str) -> bytes:
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv4Address):
        return ipaddress.IPv6Address(f"::ffff:{parsed}").packed
    return parsed.packed


def _ip_text(packed: bytes) -> str:
    address = ipaddress.IPv6Address(packed)
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else str(address)


def map_request(
    nonce: bytes,
    protocol: str,
    client: str,
    internal_port: int,
    lifetime: int,
    external_port: int = 0,
    external: str = "0.0.0.0",
) -> bytes:
    """A MAP request from ``client`` (our address as the router sees it on the LAN)."""
    if len(nonce) != NONCE_SIZE or protocol not in _PROTOCOLS:
        raise ValueError("bad nonce or protocol")
    if not (0 < internal_port < 65536 and 0 <= external_port < 65536 and 0 <= lifetime < 2**32):
        raise ValueError("port or lifetime out of range")
    header = struct.pack("!BBHI", VERSION, OP_MAP, 0, lifetime) + _ip16(client)
    body = nonce + struct.pack("!B3xHH", _PROTOCOLS[protocol], internal_port, external_port)
    return header + body + _ip16(external)


def decode(data: bytes) -> PcpReply:
    """A MAP response; options after it are skipped (bounded by MAX_MESSAGE)."""
    if len(data) in (4, 8, 12, 16) and data[0] == 0 and data[1] >= 128 and data[2:4] == b"\0\1":
        # NAT-PMP's "unsupported version" (RFC 6887 §9); other version-0 bytes are noise
        raise SpeaksNatPmp("the router speaks NAT-PMP, not PCP")
    if len(data) < HEADER_SIZE:
        raise PortmapError("PCP reply too short")
    if len(data) > MAX_MESSAGE or len(data) % 4:
        raise PortmapError(f"PCP reply of {len(data)} bytes")
    version, op, result, lifetime, epoch = struct.unpack_from("!BBxBII", data)
    if version != VERSION:
        raise PortmapError(f"PCP version {version}")
    if not op & _RESPONSE:
        raise PortmapError("a PCP request, not a response")
    if op & 0x7F != OP_MAP:
        raise PortmapError(f"PCP opcode {op & 0x7F}, not MAP")
    if len(data) < HEADER_SIZE + MAP_SIZE:
        if result == 0:
            raise PortmapError("PCP MAP response without its body")
        return PcpReply(result, lifetime, epoch, b"", "", 0, 0, "")
    body = data[HEADER_SIZE : HEADER_SIZE + MAP_SIZE]
    nonce = body[:NONCE_SIZE]
    number, internal, port = struct.unpack_from("!B3xHH", body, NONCE_SIZE)
    protocol = next((name for name, code in _PROTOCOLS.items() if code == number), "")
    external = _ip_text(body[20:36])
    if result == 0 and (not protocol or internal == 0 or (port == 0 and lifetime != 0)):
        raise PortmapError("PCP MAP response without a protocol or port")
    return PcpReply(result, lifetime, epoch, nonce, protocol, internal, port, external)
