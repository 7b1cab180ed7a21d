"""Packets: every type round-trips, and nothing a peer sends raises anything but
RemoteProtocolError."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from severus_cli.core.wire import codec, packet_base
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import (
    MAX_ID,
    MAX_LIST,
    NAME_RE,
    WORD_RE,
    Absent,
    Bin,
    Blob,
    Bool,
    Float,
    Int,
    Kind,
    ListOf,
    Name,
    Optional,
    Pair,
    Text,
    Word,
)
from severus_cli.errors import LocalProtocolError, RemoteProtocolError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(32, 64))
WIRE_TO_ATTR = {"from": "sender"}

EXAMPLES: list[p.Packet] = [
    # client -> host
    p.Hello("ana", "severus/0.1", ("rust", "Go")),
    p.Hello("b.o-b_2", "", ()),
    p.Hello("ana", "severus/0.1", (), ("nick",)),
    p.Nick(10, "robert"),
    p.Seal(1, "lobby", b"\x00ciphertext\xff"),
    p.Seal(MAX_ID, "rust", b"x"),
    p.Relay(7, "bob", "hs", b"\x01" + bytes(32)),
    p.Relay(8, "bob", "dm", b"sealed private bytes"),
    p.Join(2, "rust"),
    p.Part(3, "rust"),
    p.Names(4, "lobby"),
    p.ListRooms(5),
    p.Whois(6, "bob"),
    p.Ping(0),
    p.Bye("gone fishing"),
    p.Bye(),
    # host -> client
    p.Welcome(
        "bob",
        "ana",
        (("ana", KEY), ("bob", OTHER_KEY)),
        ("rust",),
        "be nice",
        p.RateLimits(5.0, 2.5, 100),
    ),
    p.Welcome("bob", "", (("bob", KEY),)),
    p.Welcome("bob", "", (("bob", KEY),), caps=("nick",)),
    p.Renamed("bob", "robert"),
    p.Moved(),
    p.Roster((("cy", KEY), ("dee", KEY))),
    p.Ok(9),
    p.Error(9, "no_such_nick", "nobody is called eve", False),
    p.Error(None, "nick_taken", "the nick bob is taken", True),
    p.Sealed("ana", "rust", b"\x84\xa1e", 1_700_000_000.25),
    p.Sealed("ana", "lobby", bytes(range(256)), 1.0),
    p.Relayed("ana", "key", b"\x00" * 48),
    p.Relayed("ana", "dm", b"\xc1"),
    p.Joined("carol", "lobby", 3, KEY),
    p.Left("carol", "rust", 0, "quit"),
    p.Users(2, "rust", ("ana", "bob")),
    p.RoomList(5, (("lobby", 3), ("rust", 2))),
    p.WhoisReply(6, "bob", KEY, ("lobby", "rust"), 12.5),
    p.Pong(0),
]


def decoder_for(packet: p.Packet) -> Any:
    return p.decode_from_client if packet.TYPE in p.CLIENT_PACKETS else p.decode_from_host


def expect_error(data: bytes, code: str | None = "bad_packet", client: bool = True) -> None:
    decode = p.decode_from_client if client else p.decode_from_host
    with pytest.raises(RemoteProtocolError) as caught:
        decode(data)
    if code is not None:
        assert caught.value.code == code, caught.value.message


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


# --- round trips -------------------------------------------------------------------------


def test_examples_cover_every_packet_type() -> None:
    covered = {type(e) for e in EXAMPLES}
    assert covered == set(p.CLIENT_PACKETS.values()) | set(p.HOST_PACKETS.values())


@pytest.mark.parametrize("packet", EXAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(packet: p.Packet) -> None:
    data = p.encode(packet)
    assert decoder_for(packet)(data) == packet
    assert type(decoder_for(packet)(data)) is type(packet)


def test_bye_decodes_in_both_directions() -> None:
    data = p.encode(p.Bye("later"))
    assert p.decode_from_client(data) == p.decode_from_host(data) == p.Bye("later")


def test_wire_form_uses_protocol_names() -> None:
    wire = msgpack.unpackb(p.encode(p.Sealed("ana", "rust", b"ct", 2.0)))
    assert wire == {"t": "sealed", "from": "ana", "room": "rust", "data": b"ct", "ts": 2.0}
    wire = msgpack.unpackb(p.encode(p.Relayed("ana", "dm", b"ct")))
    assert wire == {"t": "relayed", "from": "ana", "kind": "dm", "data": b"ct"}
    wire = msgpack.unpackb(p.encode(p.Seal(3, "rust", b"ct")))
    assert wire == {"t": "seal", "id": 3, "room": "rust", "data": b"ct"}
    wire = msgpack.unpackb(p.encode(p.Relay(4, "bob", "key", b"ct")))
    assert wire == {"t": "relay", "id": 4, "to": "bob", "kind": "key", "data": b"ct"}
    wire = msgpack.unpackb(p.encode(p.Welcome("bob", "", (("bob", KEY),))))
    assert wire["limits"] == {"burst": 30.0, "rate": 10.0, "max_text": p.MAX_TEXT}
    assert wire["users"] == [["bob", KEY]]


def test_opaque_data_is_msgpack_bin_not_str() -> None:
    """Ciphertext travels as bin: a str of the same bytes is refused, never decoded."""
    raw = msgpack.unpackb(p.encode(p.Seal(1, "lobby", b"ab")), raw=True)
    assert raw[b"data"] == b"ab"
    data = msgpack.packb({"t": "seal", "id": 1, "room": "lobby", "data": "ab"})
    expect_error(data)
    data = msgpack.packb({"t": "relayed", "from": "a", "kind": "dm", "data": "ab"})
    expect_error(data, client=False)
    assert msgpack.unpackb(p.encode(p.Joined("a", "b", 1, KEY)), raw=True)[b"key"] == KEY


def test_integer_time_is_accepted_as_float() -> None:
    data = pack({"t": "sealed", "from": "a", "room": "b", "data": b"c", "ts": 5})
    packet = p.decode_from_host(data)
    assert isinstance(packet, p.Sealed)
    assert packet.ts == 5.0 and type(packet.ts) is float


def test_extra_unknown_fields_are_ignored() -> None:
    wire = p.Seal(1, "lobby", b"hi").to_wire()
    wire["future"] = {"nested": [1, 2, 3]}
    wire["x"] = None
    assert p.decode_from_client(pack(wire)) == p.Seal(1, "lobby", b"hi")


def test_encode_refuses_an_oversized_packet() -> None:
    with pytest.raises(LocalProtocolError):
        p.encode(p.Seal(1, "lobby", b"x" * p.MAX_PACKET))
    with pytest.raises(LocalProtocolError):
        p.encode(p.Relayed("a", "dm", b"x" * (p.MAX_PACKET - 20)))


def test_valid_names() -> None:
    for good in ("a", "A_b.c-9", "x" * 32, "lobby"):
        assert p.valid_nick(good) and p.valid_room(good)
    for bad in ("", "x" * 33, "has space", "caf\u00e9", "a\nb", "#rust", "a/b", "\u0430"):
        assert not p.valid_nick(bad) and not p.valid_room(bad)


# --- every field of every packet ----------------------------------------------------------


def bad_values(kind: Kind) -> list[Any]:
    """Values that ``kind`` must refuse: wrong type, out of range, too long."""
    common: list[Any] = [{"a": 1}, [[]]]
    if isinstance(kind, Name):
        return [*common, None, 5, True, b"bob", "", "x" * 33, "two words", "caf\u00e9", "a\x00"]
    if isinstance(kind, Text):
        too_short = [""] if kind.min_len else []
        return [*common, None, 5, True, b"text", "x" * (kind.max_len + 1), *too_short]
    if isinstance(kind, Int):
        return [*common, None, True, False, 1.0, "1", b"\x01", kind.low - 1, kind.high + 1]
    if isinstance(kind, Float):
        return [*common, None, True, "1.0", b"", math.nan, math.inf, -math.inf]
    if isinstance(kind, Bool):
        return [*common, None, 0, 1, "true", b"\x01"]
    if isinstance(kind, Blob):
        return [*common, None, "k" * kind.size, b"k" * (kind.size - 1), b"k" * (kind.size + 1)]
    if isinstance(kind, Bin):
        too_short = [b"k" * (kind.min_len - 1)] if kind.min_len else []
        return [*common, None, 5, True, "text", b"k" * (kind.max_len + 1), *too_short]
    if isinstance(kind, Word):
        return [*common, None, 5, True, b"dm", "", "DM", "d m", "d-m", "abcdefghi", "\u00e9", "1"]
    if isinstance(kind, Optional):
        return [v for v in bad_values(kind.inner) if v is not None]
    if isinstance(kind, Absent):  # may be left out, but when sent must be valid
        return bad_values(kind.inner)
    if isinstance(kind, ListOf):
        good = good_value(kind.inner)
        return [
            None,
            "abc",
            {"a": 1},
            5,
            [good] * (kind.max_items + 1),
            [*bad_values(kind.inner)[:1]],
        ]
    if isinstance(kind, Pair):
        first, second = good_value(kind.first), good_value(kind.second)
        return [None, [first], [first, second, second], {"a": 1}, [second, first]]
    if isinstance(kind, p.Limits):
        base = {"burst": 30.0, "rate": 10.0, "max_text": 100}
        return [
            None,
            [30.0, 10.0, 100],
            {},
            {"burst": 30.0, "rate": 10.0},
            {**base, "burst": 0.5},
            {**base, "burst": 2e6},
            {**base, "rate": 0.001},
            {**base, "rate": True},
            {**base, "max_text": 0},
            {**base, "max_text": p.MAX_TEXT + 1},
            {**base, "max_text": 10.0},
            {**base, "burst": math.nan},
            {**base, **{f"k{i}": i for i in range(6)}},
        ]
    raise AssertionError(f"no bad values for {kind!r}")


def good_value(kind: Kind) -> Any:
    if isinstance(kind, Name):
        return "ok"
    if isinstance(kind, Text):
        return "x" * max(1, kind.min_len)
    if isinstance(kind, Int):
        return kind.low
    if isinstance(kind, Float):
        return 1.5
    if isinstance(kind, Bool):
        return True
    if isinstance(kind, Blob):
        return b"\x01" * kind.size
    if isinstance(kind, Bin):
        return b"\x02" * max(1, kind.min_len)
    if isinstance(kind, Word):
        return "dm"
    if isinstance(kind, Optional | Absent):
        return good_value(kind.inner)
    if isinstance(kind, ListOf):
        return [good_value(kind.inner)]
    if isinstance(kind, Pair):
        return [good_value(kind.first), good_value(kind.second)]
    if isinstance(kind, p.Limits):
        return {"burst": 30.0, "rate": 10.0, "max_text": 100}
    raise AssertionError(f"no good value for {kind!r}")


ALL_TYPES = sorted(
    {cls for cls in (*p.CLIENT_PACKETS.values(), *p.HOST_PACKETS.values())}, key=lambda c: c.TYPE
)
FIELD_CASES = [(cls, name) for cls in ALL_TYPES for name in cls.SCHEMA]
REQUIRED_CASES = [
    (cls, name) for cls, name in FIELD_CASES if not isinstance(cls.SCHEMA[name], Absent)
]
ABSENT_CASES = [(cls, name) for cls, name in FIELD_CASES if (cls, name) not in REQUIRED_CASES]


def valid_wire(cls: type[p.Packet]) -> dict[str, Any]:
    return {"t": cls.TYPE, **{name: good_value(kind) for name, kind in cls.SCHEMA.items()}}


def decode_as(cls: type[p.Packet], data: bytes) -> p.Packet:
    return p.decode_from_client(data) if cls.TYPE in p.CLIENT_PACKETS else p.decode_from_host(data)


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.TYPE)
def test_good_values_decode(cls: type[p.Packet]) -> None:
    assert type(decode_as(cls, pack(valid_wire(cls)))) is cls


@pytest.mark.parametrize(("cls", "name"), FIELD_CASES, ids=lambda x: getattr(x, "TYPE", x))
def test_each_field_refuses_bad_values(cls: type[p.Packet], name: str) -> None:
    for bad in bad_values(cls.SCHEMA[name]):
        wire = valid_wire(cls)
        wire[name] = bad
        with pytest.raises(RemoteProtocolError) as caught:
            decode_as(cls, pack(wire))
        # A list over its item limit may not fit in a packet at all (welcome.users).
        expected = "too_large" if len(pack(wire)) > p.MAX_PACKET else "bad_packet"
        assert caught.value.code == expected, (name, bad)


@pytest.mark.parametrize(("cls", "name"), REQUIRED_CASES, ids=lambda x: getattr(x, "TYPE", x))
def test_each_field_is_required(cls: type[p.Packet], name: str) -> None:
    wire = valid_wire(cls)
    del wire[name]
    with pytest.raises(RemoteProtocolError) as caught:
        decode_as(cls, pack(wire))
    assert caught.value.code == "bad_packet"
    assert name in caught.value.message


@pytest.mark.parametrize(("cls", "name"), ABSENT_CASES, ids=lambda x: getattr(x, "TYPE", x))
def test_an_optional_field_left_out_gets_its_default(cls: type[p.Packet], name: str) -> None:
    """What an older peer sends, without the field, decodes; at its default the field is
    left out again, so an older peer's packets re-encode byte for byte."""
    wire = valid_wire(cls)
    del wire[name]
    packet = decode_as(cls, pack(wire))
    kind = cls.SCHEMA[name]
    assert isinstance(kind, Absent)
    assert getattr(packet, name) == kind.default
    assert name not in packet.to_wire()
    assert len(ABSENT_CASES) >= 2


def test_error_id_may_be_nil() -> None:
    packet = p.decode_from_host(
        pack({"t": "err", "id": None, "code": "x", "msg": "", "fatal": True})
    )
    assert packet == p.Error(None, "x", "", True)


def test_bool_is_not_an_int() -> None:
    expect_error(pack({"t": "seal", "id": True, "room": "lobby", "data": b"x"}))
    expect_error(pack({"t": "ping", "id": False}))
    data = pack({"t": "joined", "nick": "a", "room": "b", "count": True, "key": KEY})
    expect_error(data, client=False)


def test_limit_bounds_are_inclusive() -> None:
    low = p.Welcome("a", "", (("a", KEY),), limits=p.RateLimits(1.0, 0.01, 1))
    high = p.Welcome("a", "", (("a", KEY),), limits=p.RateLimits(1e6, 1e6, p.MAX_TEXT))
    for packet in (low, high):
        assert p.decode_from_host(p.encode(packet)) == packet


def test_longest_data_and_lists_accepted() -> None:
    longest = b"\xff" * p.MAX_DATA
    name = "n" * 32
    for packet in (
        p.Seal(MAX_ID, name, longest),
        p.Relay(MAX_ID, name, "abcdefgh", longest),
        # What the host relays for the largest request still fits in one packet.
        p.Sealed(name, name, longest, -1.5e300),
        p.Relayed(name, "abcdefgh", longest),
    ):
        assert decoder_for(packet)(p.encode(packet)) == packet
        assert len(p.encode(packet)) <= p.MAX_PACKET
    for word in ("a", "abcdefgh", "hs", "key", "dm"):
        assert p.decode_from_client(p.encode(p.Relay(1, "b", word, b"x"))) == p.Relay(
            1, "b", word, b"x"
        )
    hello = p.Hello("a", "c" * 64, tuple(f"r{i}" for i in range(64)))
    assert p.decode_from_client(p.encode(hello)) == hello
    users = p.Users(1, "lobby", tuple(f"u{i}" for i in range(MAX_LIST)))
    assert p.decode_from_host(p.encode(users)) == users


# --- unknown and malformed packets -------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [{}, {"t": "nope"}, {"t": 5}, {"t": None}, {"t": b"seal"}, {b"t": "seal"}, {"t": ["seal"]}],
    ids=repr,
)
def test_unknown_type(obj: Any) -> None:
    expect_error(pack(obj), "unknown_packet")
    expect_error(pack(obj), "unknown_packet", client=False)


@pytest.mark.parametrize("tag", ["say", "tell", "msg", "pm"])
def test_plaintext_packets_are_gone(tag: str) -> None:
    """The old plaintext chat packets are refused in both directions."""
    wire = {"t": tag, "id": 1, "room": "lobby", "to": "bob", "from": "ana", "text": "hi"}
    wire |= {"action": False, "ts": 1.0}
    expect_error(pack(wire), "unknown_packet")
    expect_error(pack(wire), "unknown_packet", client=False)


def test_packets_only_valid_in_one_direction() -> None:
    welcome = p.encode(p.Welcome("bob", "", (("bob", KEY),)))
    expect_error(welcome, "unknown_packet", client=True)
    hello = p.encode(p.Hello("bob", "c"))
    expect_error(hello, "unknown_packet", client=False)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",  # never used
        b"\x82",  # map with missing entries
        b"\x81\xa1t",  # truncated
        pack({"t": "ping", "id": 1}) + b"\x00",  # trailing bytes
        b"\xd9\x05ab",  # str8 shorter than announced
        b"\x81\xa1t\xa4\xff\xfe\xfd\xfc",  # invalid UTF-8
        b"\xd4\x01\x00",  # an ext type
        b"\xd6\xff\x00\x00\x00\x00",  # a msgpack timestamp
        pack({1: "x"}),  # integer keys
        pack({"t": "ping", "id": 1, "x": {2: 3}}),  # integer keys deeper down
        pack({"t": "ping", "id": 1, "x": {(1, 2): 3}}),  # array as a key
    ],
    ids=lambda d: d[:12].hex() or "empty",
)
def test_invalid_msgpack(data: bytes) -> None:
    expect_error(data, "bad_packet")
    expect_error(data, "bad_packet", client=False)


@pytest.mark.parametrize(
    "obj", [None, 5, -1, 1.5, True, "seal", b"seal", [], ["t", "seal"]], ids=repr
)
def test_not_a_map(obj: Any) -> None:
    expect_error(pack(obj), "bad_packet")


def test_map_with_too_many_keys() -> None:
    wire: dict[str, Any] = {"t": "ping", "id": 1, **{f"k{i}": i for i in range(15)}}
    expect_error(pack(wire), "bad_packet")


def nested_ping(depth: int) -> bytes:
    """A ping with an ignored extra field nested ``depth`` arrays deep."""
    return b"\x83\xa1t\xa4ping\xa2id\x01\xa1x" + b"\x91" * depth + b"\xc0"


def test_moderate_nesting_in_an_ignored_field_is_fine() -> None:
    assert p.decode_from_client(nested_ping(100)) == p.Ping(1)


@pytest.mark.parametrize("depth", [2000, 20000, 65000])
def test_deep_nesting(depth: int) -> None:
    expect_error(b"\x91" * depth + b"\xc0", None)  # [[[...[nil]...]]]
    expect_error(nested_ping(depth), None)
    expect_error(b"\x81\xa1a" * depth + b"\xc0", None)  # {"a": {"a": ...}}


@pytest.mark.parametrize(
    "data",
    [
        b"\xdd\xff\xff\xff\xff",  # array32 of 4 billion items, no data
        b"\xdf\xff\xff\xff\xff",  # map32
        b"\xdb\xff\xff\xff\xff",  # str32
        b"\xc6\xff\xff\xff\xff",  # bin32
        b"\xdc" + (MAX_LIST + 1).to_bytes(2, "big") + b"\xc0" * (MAX_LIST + 1),
        b"\xdc\xff\xff" + b"\x90" * 0xFFFF,  # 65,535 empty arrays
    ],
    ids=lambda d: d[:5].hex(),
)
def test_huge_containers(data: bytes) -> None:
    expect_error(data, None)


def test_too_large_refused_before_parsing() -> None:
    expect_error(b"\x00" * (p.MAX_PACKET + 1), "too_large")


def test_users_list_over_the_limit() -> None:
    wire = {"t": "users", "id": 1, "room": "lobby", "users": [f"u{i}" for i in range(MAX_LIST + 1)]}
    expect_error(pack(wire), "bad_packet", client=False)


def test_welcome_users_must_be_nick_key_pairs() -> None:
    base = {"t": "welcome", "nick": "a", "host": "", "rooms": [], "motd": ""}
    base["limits"] = {"burst": 30.0, "rate": 10.0, "max_text": 100}
    for users in (
        ["a"],
        [["a"]],
        [["a", KEY[:31]]],
        [[KEY, "a"]],
        [["a", KEY, KEY]],
        [["a b", KEY]],
    ):
        expect_error(pack({**base, "users": users}), "bad_packet", client=False)
    assert p.decode_from_host(pack({**base, "users": [["a", KEY]]})).users == (  # type: ignore[attr-defined]
        ("a", KEY),
    )


# --- properties -----------------------------------------------------------------------


def decodes_or_protocol_error(data: bytes) -> None:
    for decode in (p.decode_from_client, p.decode_from_host):
        try:
            packet = decode(data)
        except RemoteProtocolError as error:
            assert error.code in {"bad_packet", "unknown_packet", "too_large"}
        else:
            assert isinstance(packet, p.Packet)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    decodes_or_protocol_error(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([pack(e.to_wire()) for e in EXAMPLES]), st.binary(max_size=8), st.data())
def test_mangled_valid_packets(original: bytes, junk: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(original)))
    cut = data.draw(st.integers(min_value=0, max_value=len(original) - at))
    decodes_or_protocol_error(original[:at] + junk + original[at + cut :])


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["t", "id", "room"]), inner, max_size=6
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_arbitrary_msgpack_values(value: Any) -> None:
    decodes_or_protocol_error(pack(value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ALL_TYPES),
    st.dictionaries(st.text(max_size=8), values, max_size=3),
    st.data(),
)
def test_typed_maps_with_arbitrary_fields(
    cls: type[p.Packet], extra: dict[str, Any], data: st.DataObject
) -> None:
    """Right tag, each field either valid or arbitrary: decode or RemoteProtocolError."""
    wire: dict[str, Any] = {}
    for name, kind in cls.SCHEMA.items():
        choice = data.draw(st.sampled_from(["good", "bad", "random", "missing"]))
        if choice == "good":
            wire[name] = good_value(kind)
        elif choice == "bad":
            wire[name] = data.draw(st.sampled_from(bad_values(kind)))
        elif choice == "random":
            wire[name] = data.draw(values)
    wire.update(extra)
    wire["t"] = cls.TYPE
    assume(len(wire) <= 16)
    decodes_or_protocol_error(pack(wire))


# --- generated valid packets round-trip -----------------------------------------------


def strategy(kind: Kind) -> st.SearchStrategy[Any]:
    if isinstance(kind, Name):
        return st.from_regex(NAME_RE, fullmatch=True)
    if isinstance(kind, Text):
        edge = st.just("y" * kind.max_len) if kind.max_len <= 1200 else st.nothing()
        return st.text(min_size=kind.min_len, max_size=min(kind.max_len, 40)) | edge
    if isinstance(kind, Int):
        return st.integers(kind.low, kind.high)
    if isinstance(kind, Float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(kind, Bool):
        return st.booleans()
    if isinstance(kind, Blob):
        return st.binary(min_size=kind.size, max_size=kind.size)
    if isinstance(kind, Bin):
        edge = st.just(b"\x00" * kind.max_len)
        return st.binary(min_size=kind.min_len, max_size=min(kind.max_len, 64)) | edge
    if isinstance(kind, Word):
        return st.from_regex(WORD_RE, fullmatch=True)
    if isinstance(kind, Optional):
        return st.none() | strategy(kind.inner)
    if isinstance(kind, Absent):
        return strategy(kind.inner)
    if isinstance(kind, ListOf):
        return st.lists(strategy(kind.inner), max_size=min(kind.max_items, 5)).map(tuple)
    if isinstance(kind, Pair):
        return st.tuples(strategy(kind.first), strategy(kind.second))
    if isinstance(kind, p.Limits):
        return st.builds(
            p.RateLimits,
            st.floats(1, 1e6),
            st.floats(0.01, 1e6),
            st.integers(1, p.MAX_TEXT),
        )
    raise AssertionError(f"no strategy for {kind!r}")


def packet_strategy(cls: type[p.Packet]) -> st.SearchStrategy[p.Packet]:
    fields = {WIRE_TO_ATTR.get(n, n): strategy(k) for n, k in cls.SCHEMA.items()}
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


any_packet = st.sampled_from(ALL_TYPES).flatmap(packet_strategy)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_packet)
def test_generated_packets_round_trip(packet: p.Packet) -> None:
    assert decoder_for(packet)(p.encode(packet)) == packet


# --- bounds exactly at their limits ------------------------------------------------------


def limits_wire(**fields: Any) -> bytes:
    """A welcome whose ``limits`` map is the defaults updated with ``fields``."""
    limits = {"burst": 30.0, "rate": 10.0, "max_text": p.MAX_TEXT, **fields}
    return pack({**p.Welcome("a", "", (("a", KEY),)).to_wire(), "limits": limits})


def decoded_limits(**fields: Any) -> p.RateLimits:
    packet = p.decode_from_host(limits_wire(**fields))
    assert isinstance(packet, p.Welcome)
    return packet.limits


def test_limits_map_holds_at_most_eight_entries() -> None:
    """Three or four fields now, room for more in later minor versions, up to eight."""
    extra = {f"x{i}": i for i in range(5)}
    assert decoded_limits(**extra) == p.RateLimits()
    expect_error(limits_wire(**extra, x5=5), client=False)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"burst": 1}, p.RateLimits(burst=1.0)),
        ({"burst": 1e6}, p.RateLimits(burst=1e6)),
        ({"rate": 0.01}, p.RateLimits(rate=0.01)),
        ({"rate": 1e6}, p.RateLimits(rate=1e6)),
        ({"max_text": 1}, p.RateLimits(max_text=1)),
        ({"max_data": p.MIN_DATA}, p.RateLimits(max_data=p.MIN_DATA)),
        ({"max_data": p.MAX_DATA}, p.RateLimits()),
        ({}, p.RateLimits()),  # max_data is optional: the largest when absent
    ],
    ids=repr,
)
def test_limits_accepted_at_their_bounds(fields: dict[str, Any], expected: p.RateLimits) -> None:
    assert decoded_limits(**fields) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"burst": 0.999},
        {"burst": 1e6 + 0.5},
        {"rate": 0.0099},
        {"rate": 1e6 + 0.5},
        {"burst": 0.5, "rate": 0.001},
        {"max_text": 0},
        {"max_text": p.MAX_TEXT + 1},
        {"max_data": p.MIN_DATA - 1},
        {"max_data": p.MAX_DATA + 1},
        {"max_data": None},
        {"burst": None},
        {"rate": "10"},
        {"max_text": 1.0},
    ],
    ids=repr,
)
def test_limits_refused_beyond_their_bounds(fields: dict[str, Any]) -> None:
    expect_error(limits_wire(**fields), client=False)


@pytest.mark.parametrize("name", ["burst", "rate", "max_text"])
def test_limits_fields_are_required(name: str) -> None:
    limits = {"burst": 30.0, "rate": 10.0, "max_text": p.MAX_TEXT}
    del limits[name]
    wire = {**p.Welcome("a", "", (("a", KEY),)).to_wire(), "limits": limits}
    expect_error(pack(wire), client=False)


def test_limits_wire_form_round_trips_every_field() -> None:
    limits = p.RateLimits(2.5, 0.5, 100, p.MIN_DATA)
    assert limits.to_wire() == {"burst": 2.5, "rate": 0.5, "max_text": 100, "max_data": 512}
    welcome = p.Welcome("a", "", (("a", KEY),), limits=limits)
    assert p.decode_from_host(p.encode(welcome)) == welcome


def seal_of_size(size: int) -> p.Seal:
    """A seal whose encoded form is exactly ``size`` bytes (the data in a bin16)."""
    overhead = len(p.encode(p.Seal(1, "lobby", b"x" * 1000))) - 1000
    return p.Seal(1, "lobby", b"x" * (size - overhead))


def test_encode_accepts_a_packet_of_exactly_the_largest_size() -> None:
    assert len(p.encode(seal_of_size(p.MAX_PACKET))) == p.MAX_PACKET
    with pytest.raises(LocalProtocolError):
        p.encode(seal_of_size(p.MAX_PACKET + 1))


def test_decode_accepts_a_packet_of_exactly_the_largest_size() -> None:
    """A packet filling a whole frame is parsed (its data is over MAX_DATA here, so the
    seal is refused by its field check, not as too large)."""
    expect_error(p.encode(seal_of_size(p.MAX_PACKET)), "bad_packet")
    ping = pack({"t": "ping", "id": 1, "pad": b""})
    padded = pack({"t": "ping", "id": 1, "pad": b"\x00" * (p.MAX_PACKET - len(ping) - 1)})
    assert len(padded) == p.MAX_PACKET
    assert p.decode_from_client(padded) == p.Ping(1)


def test_a_map_of_exactly_sixteen_entries_is_accepted() -> None:
    wire: dict[str, Any] = {"t": "ping", "id": 1, **{f"k{i}": i for i in range(14)}}
    assert p.decode_from_client(pack(wire)) == p.Ping(1)


def test_extension_types_are_refused_even_in_ignored_fields() -> None:
    expect_error(pack({"t": "ping", "id": 1, "x": msgpack.ExtType(1, b"a")}))


def test_a_list_of_exactly_max_list_items_is_accepted_in_an_ignored_field() -> None:
    wire = {"t": "ping", "id": 1, "x": [0] * MAX_LIST}
    assert p.decode_from_client(pack(wire)) == p.Ping(1)
    expect_error(pack({**wire, "x": [0] * (MAX_LIST + 1)}))


def test_strings_are_text_and_keys_are_strings() -> None:
    """A str field given as raw bytes is refused, and so is a map keyed by anything else."""
    expect_error(pack({"t": "join", "id": 1, "room": b"lobby"}))
    expect_error(pack({b"t": "ping", b"id": 1}), "unknown_packet")
    expect_error(pack({"t": "ping", "id": 1, 7: 7}))


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (Text(5, 2), ["ab", "abcde"]),
        (Int(3, 9), [3, 9]),
        (Int(), [0, MAX_ID]),
        (Bin(5, 2), [b"ab", b"abcde"]),
        (Blob(4), [b"abcd"]),
        (Name(), ["a", "n" * 32]),
        (Word(), ["a", "abcdefgh"]),
        (Float(), [0.0, -1.5e300, 7]),
        (ListOf(Int(), 3), [[], [1, 2, 3]]),
        (Pair(Name(), Int()), [["a", 1]]),
        (Optional(Int()), [None, 4]),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Kind) else None,
)
def test_every_kind_accepts_values_exactly_at_its_bounds(kind: Kind, values: list[Any]) -> None:
    for value in values:
        expected = tuple(value) if isinstance(value, list) else value
        assert kind.check(value) == expected


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (Text(5, 2), ["a", "abcdef"]),
        (Int(3, 9), [2, 10]),
        (Bin(5, 2), [b"a", b"abcdef"]),
        (ListOf(Int(), 3), [[1, 2, 3, 4], (1, 2)]),
        (Pair(Name(), Int()), [("a", 1), ["a", 1, 2], [1, "a"]]),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, Kind) else None,
)
def test_every_kind_refuses_values_just_past_its_bounds(kind: Kind, values: list[Any]) -> None:
    for value in values:
        with pytest.raises(ValueError):
            kind.check(value)


def test_field_names_and_plans_are_built_on_first_use_then_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-class caches start empty in a fresh process: encoding and decoding work
    from a cold cache, and later packets reuse what the first one built."""
    monkeypatch.setattr(packet_base, "_FIELD_NAMES", {})
    monkeypatch.setattr(codec, "_PLANS", {})
    monkeypatch.setattr(packet_base, "_ABSENT", {})
    for packet in EXAMPLES:
        data = p.encode(packet)
        assert decoder_for(packet)(data) == packet
        assert p.encode(packet) == data
    for cls in ALL_TYPES:
        if cls in packet_base._FIELD_NAMES:
            assert packet_base._field_names(cls) is packet_base._field_names(cls)
            names = tuple(f.name for f in dataclasses.fields(cls))
            assert packet_base._field_names(cls) == names
        assert codec._plan(cls) is codec._plan(cls)
        assert packet_base._absent(cls) is packet_base._absent(cls)
    assert packet_base._absent(p.Hello) == {"caps": ()}
