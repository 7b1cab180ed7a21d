"""Encoding and validating packets: msgpack maps with a type tag ``t``.

:func:`decode` validates a packet received in one direction (client-to-host or
host-to-client) and raises RemoteProtocolError with a machine-readable code for
anything malformed, so one hostile peer only ever costs its own connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from severus_cli.core.wire import seal_reader
from severus_cli.core.wire.client_packets import (
    Bye,
    Hello,
    Join,
    ListRooms,
    Names,
    Nick,
    Part,
    Ping,
    Relay,
    Seal,
    Whois,
)
from severus_cli.core.wire.fields import MAX_LIST, Absent, Kind
from severus_cli.core.wire.host_packets import (
    Error,
    Joined,
    Left,
    Moved,
    Ok,
    Pong,
    Relayed,
    Renamed,
    RoomList,
    Roster,
    Sealed,
    Users,
    Welcome,
    WhoisReply,
)
from severus_cli.core.wire.packet_base import MAX_PACKET, MAX_TEXT, Packet, _field_names
from severus_cli.core.wire.seal_reader import read_seal
from severus_cli.errors import LocalProtocolError, RemoteProtocolError

# What this version understands: renamed (4.6); via and quiet (4.7); moved (4.8).
MOVE = "move"  # in a welcome's caps: this host takes ``moving`` hellos (4.8)
CAPS = ("nick", "via", MOVE)
SEND_ONLY = "sendonly"  # in a hello's caps: this connection only sends (4.7)
MOVING = "moving"  # in a hello's caps: move my session onto this connection (4.8)


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
        Moved,
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


# The host makes an ``ok`` and a ``sealed`` (or a ``relayed``) for every message it
# relays: these write the same bytes as encode() would, straight from the fields,
# without a packet object or a map (tests/test_codec_fast.py holds them to encode()).
_OK_HEAD = b"\x82\xa1t\xa2ok\xa2id"
_SEALED_HEAD = b"\xa1t\xa6sealed\xa4from"
_RELAYED_HEAD = b"\xa1t\xa7relayed\xa4from"


def encode_ok(request: int) -> bytes:
    """``encode(Ok(request))``."""
    packed: bytes = _PACKER.pack(request)
    return _OK_HEAD + packed


def encode_sealed(sender: str, room: str, data: bytes, ts: float, via: int = 0) -> bytes:
    """``encode(Sealed(sender, room, data, ts, via))``."""
    pack = _PACKER.pack
    parts = [
        b"\x86" if via else b"\x85",
        _SEALED_HEAD,
        pack(sender),
        b"\xa4room",
        pack(room),
        b"\xa4data",
        pack(data),
        b"\xa2ts",
        pack(ts),
    ]
    if via:
        parts += (b"\xa3via", pack(via))
    return _bounded(b"".join(parts))


def encode_relayed(sender: str, kind: str, data: bytes, via: int = 0) -> bytes:
    """``encode(Relayed(sender, kind, data, via))``."""
    pack = _PACKER.pack
    parts = [
        b"\x85" if via else b"\x84",
        _RELAYED_HEAD,
        pack(sender),
        b"\xa4kind",
        pack(kind),
        b"\xa4data",
        pack(data),
    ]
    if via:
        parts += (b"\xa3via", pack(via))
    return _bounded(b"".join(parts))


def _bounded(data: bytes) -> bytes:
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
    tag = obj.get("t")
    cls = table.get(tag) if type(tag) is str else None
    if cls is None:
        raise RemoteProtocolError(f"unknown packet type {tag!r:.40}", "unknown_packet")
    if cls in _BUILDERS:
        build = _BUILDERS[cls]
    else:
        build = _BUILDERS[cls] = _builder(cls)
    if build is not None:
        try:
            return build(obj)
        except (KeyError, ValueError):
            pass  # a field missing or invalid: the checks below say which, and how
    return _decode_fields(cls, obj)


def _decode_fields(cls: type[Packet], obj: dict[str, Any]) -> Packet:
    """Check each field of ``cls`` in ``obj`` in turn; fill in absent optional ones."""
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
_BUILDERS: dict[type[Packet], Callable[[dict[str, Any]], Packet] | None] = {}


def _plan(cls: type[Packet]) -> tuple[tuple[str, str, Kind], ...]:
    """(wire name, attribute, check) for each field of ``cls``; cached."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple((n, _WIRE_NAMES.get(n, n), k) for n, k in cls.SCHEMA.items())
        _PLANS[cls] = plan
    return plan


def _builder(cls: type[Packet]) -> Callable[[dict[str, Any]], Packet] | None:
    """A function that makes ``cls`` from a map holding every field, each checked:
    ``cls(check0(obj["id"]), check1(obj["room"]), ...)``, written out for this class.

    It does what :func:`_decode_fields` does with such a map in a third of the time
    (no loop, no dict of values, positional arguments): a host decodes every message
    it relays. Where a field is missing or invalid it raises KeyError or ValueError,
    and the caller runs the field checks, which say which field and fill in absent
    optional ones. None where the schema's order is not the class's.
    """
    plan = _plan(cls)
    if tuple(attribute for _, attribute, _ in plan) != _field_names(cls):
        return None
    namespace: dict[str, Any] = {"cls": cls}
    arguments = []
    for index, (name, _, kind) in enumerate(plan):
        namespace[f"check{index}"] = kind.check
        arguments.append(f"check{index}(obj[{name!r}])")
    source = f"def build(obj):\n    return cls({', '.join(arguments)})\n"
    exec(source, namespace)  # names and checks come from the class's own SCHEMA
    built: Callable[[dict[str, Any]], Packet] = namespace["build"]
    return built


# The byte-level reader of seals pays only compiled (tools/build_compiled.py: 0.35 against
# 1.3 µs per seal); interpreted, it is slower than msgpack's C decoder (1.8 µs).
READ_SEALS = not (seal_reader.__file__ or "").endswith(".py")


def decode_from_client(data: bytes) -> Packet:
    """A packet from a client; in the compiled build a ``seal`` in the clients' own
    layout is read directly (:mod:`severus_cli.core.wire.seal_reader`)."""
    if READ_SEALS:  # (it returns None at once for any other packet type)
        seal = read_seal(data)
        if seal is not None:
            return seal
    return decode(data, CLIENT_PACKETS)


def decode_from_host(data: bytes) -> Packet:
    return decode(data, HOST_PACKETS)
