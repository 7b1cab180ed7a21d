"""The codec's fast paths say exactly what the general one says.

A host encodes an ``ok`` and a ``sealed`` or ``relayed`` for every message it relays,
and decodes every packet through a builder written out per class: each must give the
same bytes, the same packet, and the same refusal as encode() and the field checks.
"""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.wire import codec
from severus_cli.core.wire import packets as p
from severus_cli.errors import LocalProtocolError, RemoteProtocolError
from tests.test_packets import ALL_TYPES, EXAMPLES, valid_wire

names = st.from_regex(r"[A-Za-z0-9_.\-]{1,32}", fullmatch=True)
words = st.from_regex(r"[a-z]{1,8}", fullmatch=True)
blobs = st.binary(min_size=1, max_size=2000)
times = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(0.0))
vias = st.integers(0, p.MAX_VIA)


@given(st.integers(0, 2**32 - 1))
def test_ok_is_encode_of_ok(request: int) -> None:
    assert p.encode_ok(request) == p.encode(p.Ok(request))


@given(names, names, blobs, times, vias)
def test_sealed_is_encode_of_sealed(
    sender: str, room: str, data: bytes, ts: float, via: int
) -> None:
    fast = p.encode_sealed(sender, room, data, ts, via)
    assert fast == p.encode(p.Sealed(sender, room, data, ts, via))
    assert p.decode_from_host(fast) == p.Sealed(sender, room, data, ts, via)


@given(names, words, blobs, vias)
def test_relayed_is_encode_of_relayed(sender: str, kind: str, data: bytes, via: int) -> None:
    fast = p.encode_relayed(sender, kind, data, via)
    assert fast == p.encode(p.Relayed(sender, kind, data, via))
    assert p.decode_from_host(fast) == p.Relayed(sender, kind, data, via)


def test_fast_encoders_refuse_what_encode_refuses() -> None:
    huge = b"x" * p.MAX_PACKET
    with pytest.raises(LocalProtocolError):
        p.encode_sealed("a", "lobby", huge, 0.0)
    with pytest.raises(LocalProtocolError):
        p.encode_relayed("a", "dm", huge)


@pytest.mark.parametrize("packet", EXAMPLES, ids=lambda packet: packet.TYPE)
def test_builder_and_field_checks_agree(packet: p.Packet) -> None:
    table = p.HOST_PACKETS if type(packet).TYPE in p.HOST_PACKETS else p.CLIENT_PACKETS
    obj = msgpack.unpackb(p.encode(packet), raw=False)
    obj.pop("t")
    assert p.decode(p.encode(packet), table) == codec._decode_fields(type(packet), obj)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda cls: cls.TYPE)
def test_every_packet_type_has_a_builder(cls: type[p.Packet]) -> None:
    """Written out for every class: a schema out of the class's order would quietly
    take the slow path (or, worse, swap fields), so it is held here."""
    assert codec._builder(cls) is not None
    built = codec._builder(cls)
    assert built is not None
    wire = valid_wire(cls)
    assert built(wire) == codec._decode_fields(cls, wire)


def _refusal(data: bytes) -> tuple[str, str]:
    with pytest.raises(RemoteProtocolError) as caught:
        p.decode_from_client(data)
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"t": "seal", "id": 1, "room": "lobby"}, "seal: missing field 'data'"),
        ({"t": "seal", "id": -1, "room": "lobby", "data": b"x"}, "seal.id must be"),
        ({"t": "seal", "id": 1, "room": "no spaces", "data": b"x"}, "seal.room must be"),
        ({"t": "seal", "id": 1, "room": "lobby", "data": "text"}, "seal.data must be"),
        ({"t": "seal", "id": True, "room": "lobby", "data": b"x"}, "seal.id must be"),
        ({"t": "relay", "id": 1, "to": "b", "kind": "dm", "data": b""}, "relay.data must be"),
    ],
)
def test_a_bad_field_is_named_as_before(obj: dict[str, Any], message: str) -> None:
    code, said = _refusal(msgpack.packb(obj, use_bin_type=True))
    assert code == "bad_packet"
    assert said.startswith(message)


def test_an_older_peer_without_optional_fields_still_decodes() -> None:
    """A relay without ``via`` misses the builder (KeyError) and gets the default."""
    obj = {"t": "relay", "id": 3, "to": "bob", "kind": "dm", "data": b"x"}
    assert p.decode_from_client(msgpack.packb(obj, use_bin_type=True)) == p.Relay(
        3, "bob", "dm", b"x", 0
    )
