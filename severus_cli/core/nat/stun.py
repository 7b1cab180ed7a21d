"""STUN (RFC 5389) Binding messages, the little of it NAT traversal needs. Pure code.

A client learns its public UDP endpoint ("server reflexive address") by sending a
Binding Request from the very socket QUIC will use; the server answers with the
source address it saw, XORed with the magic cookie (XOR-MAPPED-ADDRESS) so that NATs
which rewrite addresses inside payloads leave it alone. ``severus relay`` answers
these on its UDP port, and any standard STUN server (coturn) does too.

Hole-punching packets are Binding Indications: they need no answer, and they are
told apart from QUIC by their first two bits (always 00 in STUN, never in QUIC).
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
MAX_MESSAGE = 1280  # nothing we send or accept is bigger; bounds the decoder's work
TXID_SIZE = 12

BINDING_REQUEST = 0x0001
BINDING_INDICATION = 0x0011
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
FINGERPRINT_XOR = 0x5354554E
SOFTWARE = b"severus"

_COOKIE = MAGIC_COOKIE.to_bytes(4, "big")

Address = tuple[str, int]


class StunError(ValueError):
    """Not a well-formed STUN message."""


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A decoded message: its type, transaction id and the mapped address, if any."""

    kind: int
    txid: bytes
    mapped: Address | None = None


def looks_like_stun(data: bytes) -> bool:
    """Cheap test for demultiplexing a UDP socket shared with QUIC (RFC 7983)."""
    return len(data) >= HEADER_SIZE and data[0] < 0x04 and data[4:8] == _COOKIE


def binding_request(txid: bytes) -> bytes:
    return _message(BINDING_REQUEST, txid, [])


def binding_indication(txid: bytes) -> bytes:
    """A punch: opens our NAT towards the peer; the peer need not answer."""
    return _message(BINDING_INDICATION, txid, [])


def binding_success(txid: bytes, address: Address) -> bytes:
    """A server's answer: the address the request came from, XOR-mapped."""
    return _message(
        BINDING_SUCCESS,
        txid,
        [
            (ATTR_XOR_MAPPED_ADDRESS, _xor_address(address, txid)),
            (ATTR_SOFTWARE, SOFTWARE),
        ],
    )


def _message(kind: int, txid: bytes, attributes: list[tuple[int, bytes]]) -> bytes:
    if len(txid) != TXID_SIZE:
        raise ValueError("a STUN transaction id is 12 bytes")
    body = bytearray()
    for attr, value in attributes:
        body += struct.pack("!HH", attr, len(value)) + value + b"\x00" * (-len(value) % 4)
    # FINGERPRINT: CRC-32 over everything before it, with the length already counting it.
    header = struct.pack("!HH", kind, len(body) + 8) + _COOKIE + txid
    crc = zlib.crc32(header + body) ^ FINGERPRINT_XOR
    return header + bytes(body) + struct.pack("!HHI", ATTR_FINGERPRINT, 4, crc)


def _xor_address(address: Address, txid: bytes) -> bytes:
    host, port = address
    ip = ipaddress.ip_address(host)
    family = 1 if ip.version == 4 else 2
    mask = _COOKIE + (txid if ip.version == 6 else b"")
    packed = bytes(a ^ b for a, b in zip(ip.packed, mask, strict=False))
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + packed


def decode(data: bytes) -> StunMessage:
    """Parse one message; StunError for anything malformed. Unknown attributes are
    skipped (a client only needs the mapped address); a FINGERPRINT must be right."""
    if len(data) > MAX_MESSAGE or not looks_like_stun(data):
        raise StunError("not a STUN message")
    kind, length = struct.unpack_from("!HH", data)
    if length % 4 or HEADER_SIZE + length != len(data):
        raise StunError("bad STUN length")
    txid = bytes(data[8:HEADER_SIZE])
    mapped: Address | None = None
    plain: Address | None = None
    at = HEADER_SIZE
    while at < len(data):
        if at + 4 > len(data):
            raise StunError("truncated STUN attribute")
        attr, size = struct.unpack_from("!HH", data, at)
        value = data[at + 4 : at + 4 + size]
        if len(value) != size:
            raise StunError("truncated STUN attribute")
        if attr == ATTR_XOR_MAPPED_ADDRESS:
            mapped = _read_address(value, txid, xor=True)
        elif attr == ATTR_MAPPED_ADDRESS:
            plain = _read_address(value, txid, xor=False)
        elif attr == ATTR_FINGERPRINT:
            if size != 4 or at + 8 != len(data):
                raise StunError("FINGERPRINT must be the last attribute")
            expected = zlib.crc32(data[:at]) ^ FINGERPRINT_XOR
            if int.from_bytes(value, "big") != expected:
                raise StunError("bad STUN FINGERPRINT")
        at += 4 + size + (-size % 4)
    return StunMessage(kind, txid, mapped or plain)


def _read_address(value: bytes, txid: bytes, *, xor: bool) -> Address:
    if len(value) < 4:
        raise StunError("short address attribute")
    family, port = value[1], int.from_bytes(value[2:4], "big")
    width = {1: 4, 2: 16}.get(family)
    if width is None or len(value) != 4 + width:
        raise StunError("bad address family")
    packed = value[4:]
    if xor:
        port ^= MAGIC_COOKIE >> 16
        mask = _COOKIE + txid
        packed = bytes(a ^ b for a, b in zip(packed, mask, strict=False))
    if port == 0:
        raise StunError("mapped port 0")
    return str(ipaddress.ip_address(packed)), port


def answer_binding(data: bytes, source: Address) -> bytes | None:
    """A STUN server's whole job: the answer to a Binding Request from ``source``, or
    None for anything else (garbage, indications, responses), which is dropped."""
    try:
        message = decode(data)
    except StunError:
        return None
    if message.kind != BINDING_REQUEST:
        return None
    return binding_success(message.txid, source)
