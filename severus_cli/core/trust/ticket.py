"""Tickets: one copy-pasteable token that says where a host is and who it is.

``sev`` + lowercase RFC 4648 base32 (no padding) of a binary record::

    version u8 (=1) | identity key (32) | certificate hash (32) | entry* | check (4)

Each entry is ``type u8 | length u8 | value``; unknown types are skipped, so later
versions can add entries. ``check`` is the first 4 bytes of SHA-256 over everything
before it, so a mistyped or truncated ticket is caught with a clear error. Pure code.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from severus_cli.errors import UsageError

PREFIX = "sev"
VERSION = 1
_CHECK = 4
_HEADER = 1 + 32 + 32
MAX_TICKET = 2048  # characters; a ticket is about 150 characters with a few addresses
_BASE32 = re.compile(r"[a-z2-7]+")


class Entry(enum.IntEnum):
    QUIC_V4 = 1
    QUIC_V6 = 2
    TCP_V4 = 3
    TCP_V6 = 4
    RELAY = 5  # UTF-8 "host:port" of a relay the host is registered with
    SECRET = 6  # a join secret (raw bytes)


@dataclass(frozen=True, slots=True)
class Endpoint:
    transport: str  # "quic" or "tcp"
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Ticket:
    key: bytes  # the host's X25519 identity key
    cert_hash: bytes  # SHA-256 of its TLS certificate (DER)
    endpoints: tuple[Endpoint, ...] = ()
    relay: str | None = None
    secret: bytes | None = None
    extra: tuple[tuple[int, bytes], ...] = field(default=(), compare=False)


class TicketError(UsageError):
    """This is not a valid Severus ticket."""


def looks_like_ticket(text: str) -> bool:
    """True for anything that should be parsed as a ticket rather than HOST:PORT.

    A ticket is base32 after its prefix, so it never holds a ``.`` or a ``:``; a long
    host name that happens to start with the prefix is a host name.
    """
    text = text.strip()
    return (
        text.lower().startswith(PREFIX) and ":" not in text and "." not in text and len(text) > 40
    )


def encode_ticket(ticket: Ticket) -> str:
    if len(ticket.key) != 32 or len(ticket.cert_hash) != 32:
        raise ValueError("key and certificate hash must be 32 bytes")
    record = bytearray([VERSION]) + ticket.key + ticket.cert_hash
    for endpoint in ticket.endpoints:
        address = ipaddress.ip_address(endpoint.host)
        v6 = address.version == 6
        if endpoint.transport == "quic":
            kind = Entry.QUIC_V6 if v6 else Entry.QUIC_V4
        elif endpoint.transport == "tcp":
            kind = Entry.TCP_V6 if v6 else Entry.TCP_V4
        else:
            raise ValueError(f"unknown transport {endpoint.transport}")
        _entry(record, kind, address.packed + endpoint.port.to_bytes(2, "big"))
    if ticket.relay is not None:
        _entry(record, Entry.RELAY, ticket.relay.encode("utf-8"))
    if ticket.secret is not None:
        _entry(record, Entry.SECRET, ticket.secret)
    record += hashlib.sha256(record).digest()[:_CHECK]
    return PREFIX + base64.b32encode(bytes(record)).decode("ascii").rstrip("=").lower()


def _entry(record: bytearray, kind: int, value: bytes) -> None:
    if len(value) > 255:
        raise ValueError("ticket entry too long")
    record += bytes([kind, len(value)]) + value


def decode_ticket(text: str) -> Ticket:
    """Parse a ticket; TicketError says what is wrong in words a person can act on."""
    text = "".join(text.split()).lower()  # tolerate line breaks from copy and paste
    if len(text) > MAX_TICKET:
        raise TicketError("this ticket is far too long to be a Severus ticket")
    if not text.startswith(PREFIX):
        raise TicketError(f"a Severus ticket starts with {PREFIX!r}")
    body = text[len(PREFIX) :]
    if not _BASE32.fullmatch(body):
        raise TicketError("the ticket contains characters that cannot be in a ticket")
    try:
        record = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except ValueError:
        raise TicketError("the ticket is cut short or damaged: copy it again, whole") from None
    if len(record) < _HEADER + _CHECK:
        raise TicketError("the ticket is too short (cut short?): copy it again, whole")
    payload, check = record[:-_CHECK], record[-_CHECK:]
    if hashlib.sha256(payload).digest()[:_CHECK] != check:
        raise TicketError("the ticket is damaged or cut short: copy it again, whole")
    if payload[0] != VERSION:
        raise TicketError(f"this ticket is for protocol version {payload[0]}; we speak {VERSION}")
    return _parse_entries(payload)


def _parse_entries(payload: bytes) -> Ticket:
    key, cert_hash = payload[1:33], payload[33:65]
    endpoints: list[Endpoint] = []
    relay: str | None = None
    secret: bytes | None = None
    extra: list[tuple[int, bytes]] = []
    at = _HEADER
    while at < len(payload):
        if at + 2 > len(payload):
            raise TicketError("the ticket is malformed")
        kind, size = payload[at], payload[at + 1]
        value = payload[at + 2 : at + 2 + size]
        if len(value) != size:
            raise TicketError("the ticket is malformed")
        at += 2 + size
        if kind in (Entry.QUIC_V4, Entry.TCP_V4, Entry.QUIC_V6, Entry.TCP_V6):
            width = 4 if kind in (Entry.QUIC_V4, Entry.TCP_V4) else 16
            if size != width + 2:
                raise TicketError("the ticket has a malformed address")
            host = str(ipaddress.ip_address(value[:width]))
            port = int.from_bytes(value[width:], "big")
            if port == 0:
                raise TicketError("the ticket has an address with port 0")
            transport = "quic" if kind in (Entry.QUIC_V4, Entry.QUIC_V6) else "tcp"
            endpoints.append(Endpoint(transport, host, port))
        elif kind == Entry.RELAY:
            try:
                relay = value.decode("utf-8")
            except UnicodeDecodeError:
                raise TicketError("the ticket has a malformed relay address") from None
        elif kind == Entry.SECRET:
            secret = value
        else:
            extra.append((kind, value))
    return Ticket(key, cert_hash, tuple(endpoints), relay, secret, tuple(extra))
