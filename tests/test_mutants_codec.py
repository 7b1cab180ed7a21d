"""The codec's fast paths at their edges: a packet of exactly the largest size, the
default ``via``, and a codec that has decoded nothing yet taking the fast path for
every complete packet (the general checks only for what is missing or wrong)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.wire import codec
from severus_cli.core.wire import packets as p
from severus_cli.errors import LocalProtocolError
from tests.test_packets import ALL_TYPES, bad_values, decode_as, good_value, valid_wire


def largest(make: Any) -> int:
    """The data length at which ``encode(make(data))`` is exactly MAX_PACKET bytes."""
    overhead = len(p.encode(make(b"x" * 300))) - 300  # bin 16 header from 256 bytes up
    size = p.MAX_PACKET - overhead
    assert len(p.encode(make(b"x" * size))) == p.MAX_PACKET
    return size


def test_sealed_of_exactly_the_largest_size_is_encoded_like_encode() -> None:
    size = largest(lambda data: p.Sealed("bob", "lobby", data, 1.5, 2))
    fast = p.encode_sealed("bob", "lobby", b"x" * size, 1.5, 2)
    assert fast == p.encode(p.Sealed("bob", "lobby", b"x" * size, 1.5, 2))
    with pytest.raises(LocalProtocolError):
        p.encode_sealed("bob", "lobby", b"x" * (size + 1), 1.5, 2)


def test_relayed_of_exactly_the_largest_size_is_encoded_like_encode() -> None:
    size = largest(lambda data: p.Relayed("bob", "dm", data))
    assert p.encode_relayed("bob", "dm", b"x" * size) == p.encode(
        p.Relayed("bob", "dm", b"x" * size)
    )
    with pytest.raises(LocalProtocolError):
        p.encode_relayed("bob", "dm", b"x" * (size + 1))


def test_without_a_via_the_fast_encoders_write_none() -> None:
    assert p.encode_sealed("bob", "lobby", b"x", 2.0) == p.encode(
        p.Sealed("bob", "lobby", b"x", 2.0)
    )
    assert p.encode_relayed("bob", "dm", b"x") == p.encode(p.Relayed("bob", "dm", b"x"))


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda cls: cls.TYPE)
def test_a_fresh_codec_decodes_complete_packets_on_the_fast_path(
    cls: type[p.Packet], monkeypatch: pytest.MonkeyPatch
) -> None:
    def general(kind: type[p.Packet], obj: dict[str, Any]) -> p.Packet:
        raise AssertionError(f"{kind.TYPE}: a complete packet took the general checks")

    monkeypatch.setattr(codec, "_BUILDERS", {})  # as in a new process
    monkeypatch.setattr(codec, "_decode_fields", general)
    data = msgpack.packb(valid_wire(cls), use_bin_type=True)
    first = decode_as(cls, data)
    assert type(first) is cls and decode_as(cls, data) == first  # built, then cached


def outcome(decode: Any) -> tuple[Any, ...]:
    """What decoding gave: the packet, or the kind, code and words of the refusal."""
    try:
        return ("packet", decode())
    except Exception as error:  # any refusal, compared in full below
        return ("refused", type(error), getattr(error, "code", None), str(error))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.integers(0, 3), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ALL_TYPES), st.data())
def test_the_fast_path_refuses_exactly_what_the_field_checks_refuse(
    cls: type[p.Packet], data: st.DataObject
) -> None:
    """Each field good, missing, one of the values the field tests refuse, or anything:
    decode() (its builder first) and the field checks alone agree on the packet or on
    the refusal, word for word."""
    obj: dict[str, Any] = {"t": cls.TYPE}
    for name, kind in cls.SCHEMA.items():
        choice = data.draw(st.sampled_from(("good", "missing", "bad", "any")))
        if choice == "good":
            obj[name] = good_value(kind)
        elif choice == "bad":
            obj[name] = data.draw(st.sampled_from(bad_values(kind)))
        elif choice == "any":
            obj[name] = data.draw(scalars)
    try:
        wire = msgpack.packb(obj, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return  # not encodable as msgpack: nothing a peer could send
    table = p.CLIENT_PACKETS if cls.TYPE in p.CLIENT_PACKETS else p.HOST_PACKETS
    fast = outcome(lambda: p.decode(wire, table))
    general = outcome(lambda: codec._decode_fields(cls, codec._unpack(wire)))
    assert repr(fast) == repr(general)  # (repr: a nan is not equal to itself)
