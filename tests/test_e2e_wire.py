"""The end-to-end payload formats: round trips, and nothing a peer sends raises anything
but RemoteProtocolError (``e2e_bad``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.wire import ChatBody, Sealed, SenderKeyGift
from severus_cli.errors import RemoteProtocolError

DECODERS: list[Callable[[bytes], object]] = [
    wire.decode_sealed,
    wire.decode_body,
    wire.decode_pairwise,
]

SEALED = Sealed(b"E" * 8, 3, b"c" * 16, b"s" * 64)
GIFT = SenderKeyGift("Rust", b"E" * 8, b"k" * 32, 7, b"v" * 32)


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def refused(decode: Callable[[bytes], object], data: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        decode(data)
    assert caught.value.code == "e2e_bad", caught.value.message


# --- round trips ---------------------------------------------------------------------------


def test_round_trips() -> None:
    assert wire.decode_sealed(wire.encode_sealed(SEALED)) == SEALED
    body = ChatBody("héllo \U0001f600", True)
    assert wire.decode_body(wire.encode_body(body)) == body
    assert wire.decode_pairwise(wire.encode_direct(body)) == body
    assert wire.decode_pairwise(wire.encode_gift(GIFT)) == GIFT


def test_wire_forms() -> None:
    assert msgpack.unpackb(wire.encode_sealed(SEALED)) == {
        "e": b"E" * 8,
        "n": 3,
        "c": b"c" * 16,
        "s": b"s" * 64,
    }
    assert msgpack.unpackb(wire.encode_body(ChatBody("hi"))) == {
        "t": "say",
        "text": "hi",
        "action": False,
    }
    assert msgpack.unpackb(wire.encode_direct(ChatBody("hi", True))) == {
        "t": "dm",
        "text": "hi",
        "action": True,
    }
    assert msgpack.unpackb(wire.encode_gift(GIFT)) == {
        "t": "skey",
        "room": "Rust",
        "epoch": b"E" * 8,
        "chain": b"k" * 32,
        "n": 7,
        "vk": b"v" * 32,
    }


def test_longest_text() -> None:
    body = ChatBody("\U0001f600" * wire.MAX_TEXT_E2E)
    assert wire.decode_body(wire.encode_body(body)) == body
    refused(wire.decode_body, wire.encode_body(ChatBody("x" * (wire.MAX_TEXT_E2E + 1))))


# --- malformed payloads ------------------------------------------------------------------------

GOOD_SEALED = {"e": b"E" * 8, "n": 0, "c": b"c" * 16, "s": b"s" * 64}
GOOD_BODY = {"t": "say", "text": "hi", "action": False}
GOOD_GIFT = {
    "t": "skey",
    "room": "r",
    "epoch": b"E" * 8,
    "chain": b"k" * 32,
    "n": 0,
    "vk": b"v" * 32,
}

BAD_FIELDS: list[tuple[Callable[[bytes], object], dict[str, Any], str, Any]] = [
    *[(wire.decode_sealed, GOOD_SEALED, "e", v) for v in (b"E" * 7, b"E" * 9, "E" * 8, None)],
    *[(wire.decode_sealed, GOOD_SEALED, "n", v) for v in (-1, 2**63, True, 1.0, "1", None)],
    *[(wire.decode_sealed, GOOD_SEALED, "c", v) for v in (b"c" * 15, b"", "c" * 16, None, 5)],
    *[(wire.decode_sealed, GOOD_SEALED, "s", v) for v in (b"s" * 63, b"s" * 65, "s" * 64)],
    *[(wire.decode_body, GOOD_BODY, "text", v) for v in ("", b"hi", 5, None)],
    *[(wire.decode_body, GOOD_BODY, "action", v) for v in (0, 1, "true", None)],
    *[(wire.decode_pairwise, {**GOOD_BODY, "t": "dm"}, "text", v) for v in ("", b"x")],
    *[(wire.decode_pairwise, GOOD_GIFT, "room", v) for v in ("", "a b", "x" * 33, b"r")],
    *[(wire.decode_pairwise, GOOD_GIFT, "epoch", v) for v in (b"E" * 7, "E" * 8)],
    *[(wire.decode_pairwise, GOOD_GIFT, "chain", v) for v in (b"k" * 31, b"k" * 33)],
    *[(wire.decode_pairwise, GOOD_GIFT, "n", v) for v in (-1, False, 2**63)],
    *[(wire.decode_pairwise, GOOD_GIFT, "vk", v) for v in (b"v" * 31, None)],
    *[(wire.decode_pairwise, GOOD_GIFT, "t", v) for v in ("say", "SKEY", None, 1, b"skey")],
]


@pytest.mark.parametrize(("decode", "good", "name", "bad"), BAD_FIELDS)
def test_each_field_refuses_bad_values(
    decode: Callable[[bytes], object], good: dict[str, Any], name: str, bad: Any
) -> None:
    decode(pack(good))  # the base is valid
    refused(decode, pack({**good, name: bad}))
    refused(decode, pack({k: v for k, v in good.items() if k != name}))  # and required


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        pack([1, 2]),
        pack("map"),
        pack(GOOD_SEALED) + b"\x00",  # trailing bytes
        pack({1: 2}),
        b"\xd4\x01\x00",  # ext
        b"\x91" * 5000 + b"\xc0",  # deep nesting
        b"\xdf\xff\xff\xff\xff",  # a map that claims 4 billion entries
        pack({f"k{i}": i for i in range(17)}),
    ],
    ids=lambda d: d[:6].hex() or "empty",
)
def test_not_a_payload(decode: Callable[[bytes], object], data: bytes) -> None:
    refused(decode, data)


# --- properties ----------------------------------------------------------------------------------


def only_protocol_errors(data: bytes) -> None:
    for decode in DECODERS:
        try:
            decode(data)
        except RemoteProtocolError as error:
            assert error.code == "e2e_bad"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    only_protocol_errors(data)


valid = [pack(GOOD_SEALED), pack(GOOD_BODY), pack(GOOD_GIFT), pack({**GOOD_BODY, "t": "dm"})]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(valid), st.binary(max_size=8), st.data())
def test_mangled_payloads(original: bytes, junk: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(original)))
    cut = data.draw(st.integers(min_value=0, max_value=len(original) - at))
    only_protocol_errors(original[:at] + junk + original[at + cut :])


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=80)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["t", "e", "n", "c", "s", "text", "action", "room", "epoch", "chain", "vk"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, values | st.sampled_from(["say", "dm", "skey"]), max_size=8))
def test_maps_of_the_right_names_with_arbitrary_values(obj: dict[str, Any]) -> None:
    only_protocol_errors(pack(obj))


@settings(max_examples=200, deadline=None)
@given(values)
def test_arbitrary_msgpack_values(value: Any) -> None:
    only_protocol_errors(pack(value))


names = st.from_regex(r"[A-Za-z0-9_.\-]{1,32}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        Sealed,
        st.binary(min_size=8, max_size=8),
        st.integers(0, 2**63 - 1),
        st.binary(min_size=16, max_size=200),
        st.binary(min_size=64, max_size=64),
    ),
    st.builds(ChatBody, st.text(min_size=1, max_size=50), st.booleans()),
    st.builds(
        SenderKeyGift,
        names,
        st.binary(min_size=8, max_size=8),
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**63 - 1),
        st.binary(min_size=32, max_size=32),
    ),
)
def test_generated_values_round_trip(sealed: Sealed, body: ChatBody, gift: SenderKeyGift) -> None:
    assert wire.decode_sealed(wire.encode_sealed(sealed)) == sealed
    assert wire.decode_body(wire.encode_body(body)) == body
    assert wire.decode_pairwise(wire.encode_direct(body)) == body
    assert wire.decode_pairwise(wire.encode_gift(gift)) == gift


# --- the msgpack limits, exactly at their bounds -----------------------------------------------
#
# The limits hold for every value in a payload, fields the schema ignores included, so a
# peer cannot make us build a value larger than any real field only for it to be dropped.


def with_extra(value: Any) -> bytes:
    """A valid message body with one more, unknown field."""
    return pack({**GOOD_BODY, "x": value})


def test_strings_are_bounded_at_four_bytes_per_character() -> None:
    longest = wire.MAX_TEXT_E2E * 4  # the longest text, in 4-byte characters
    assert wire.decode_body(with_extra("y" * longest)) == ChatBody("hi")
    refused(wire.decode_body, with_extra("y" * (longest + 1)))


def test_byte_strings_are_bounded_by_the_largest_ciphertext() -> None:
    assert wire.decode_body(with_extra(bytes(wire.MAX_CIPHERTEXT))) == ChatBody("hi")
    refused(wire.decode_body, with_extra(bytes(wire.MAX_CIPHERTEXT + 1)))


def test_lists_hold_at_most_sixteen_items() -> None:
    assert wire.decode_body(with_extra([0] * 16)) == ChatBody("hi")
    refused(wire.decode_body, with_extra([0] * 17))


def test_maps_hold_at_most_sixteen_entries() -> None:
    extra = {f"k{i}": i for i in range(16 - len(GOOD_BODY))}
    assert wire.decode_body(pack({**GOOD_BODY, **extra})) == ChatBody("hi")
    refused(wire.decode_body, pack({**GOOD_BODY, **extra, "one more": 0}))


def test_extension_types_carry_no_data() -> None:
    refused(wire.decode_body, with_extra(msgpack.ExtType(1, b"a")))


def test_the_largest_ciphertext_and_counter_are_accepted() -> None:
    largest = {**GOOD_SEALED, "c": bytes(wire.MAX_CIPHERTEXT), "n": 2**63 - 1}
    sealed = wire.decode_sealed(pack(largest))
    assert (len(sealed.ciphertext), sealed.counter) == (wire.MAX_CIPHERTEXT, 2**63 - 1)
    refused(wire.decode_sealed, pack({**largest, "c": bytes(wire.MAX_CIPHERTEXT + 1)}))
