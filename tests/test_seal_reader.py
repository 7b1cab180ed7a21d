"""The byte-level reader of ``seal`` packets (core/wire/seal_reader.py) never disagrees
with the generic decoder: what it reads, the decoder reads the same; what the decoder
refuses, it leaves alone (None), so the decoder's refusal still reaches the peer.

It runs both interpreted and, in tests/test_compiled_core.py, against the mypyc build,
where ``decode_from_client`` uses it for every seal.
"""

from __future__ import annotations

import re
import struct

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.wire import codec
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import MAX_ID, NAME_RE
from severus_cli.core.wire.seal_reader import SEAL_HEAD, _is_name, read_seal
from severus_cli.errors import RemoteProtocolError

names = st.from_regex(r"[A-Za-z0-9_.\-]{1,32}", fullmatch=True)
ids = st.integers(0, MAX_ID)
blobs = st.binary(min_size=1, max_size=3000)


def generic(data: bytes) -> p.Packet | None:
    """What the generic decoder makes of ``data`` (None: it refuses it)."""
    try:
        return codec.decode(data, codec.CLIENT_PACKETS)
    except RemoteProtocolError:
        return None


def agrees(data: bytes) -> p.Packet | None:
    """Read ``data`` both ways; the reader may decline, never disagree."""
    fast = read_seal(data)
    slow = generic(data)
    if fast is not None:
        assert slow == fast
        assert type(fast.id) is int and type(fast.room) is str and type(fast.data) is bytes
    assert codec.decode_from_client(data) == slow if slow is not None else True
    return fast


@given(ids, names, blobs)
def test_every_seal_a_client_writes_is_read_as_the_decoder_reads_it(
    ident: int, room: str, data: bytes
) -> None:
    wire = p.encode(p.Seal(ident, room, data))
    assert wire.startswith(SEAL_HEAD)
    assert agrees(wire) == p.Seal(ident, room, data)


@given(ids, names, blobs, st.data())
def test_a_damaged_seal_is_never_read_differently(
    ident: int, room: str, data: bytes, draw: st.DataObject
) -> None:
    wire = bytearray(p.encode(p.Seal(ident, room, data)))
    edit = draw.draw(st.sampled_from(["flip", "cut", "grow", "insert"]))
    at = draw.draw(st.integers(0, len(wire) - 1))
    if edit == "flip":
        wire[at] ^= draw.draw(st.integers(1, 255))
    elif edit == "cut":
        del wire[at:]
    elif edit == "grow":
        wire += draw.draw(st.binary(min_size=1, max_size=9))
    else:
        wire[at:at] = draw.draw(st.binary(min_size=1, max_size=9))
    agrees(bytes(wire))


@given(st.binary(max_size=80))
def test_any_bytes_after_the_head_are_never_read_differently(tail: bytes) -> None:
    agrees(SEAL_HEAD + tail)


def layout(ident: bytes, room: bytes, data: bytes) -> bytes:
    """A seal with its fields already packed: the clients' key order, any widths."""
    return SEAL_HEAD + ident + b"\xa4room" + room + b"\xa4data" + data


def ids_in_every_width() -> list[bytes]:
    return [
        b"\x00",
        b"\x7f",  # fixint
        b"\xcc\x80",
        b"\xcc\x05",  # uint 8 (also for what fits a fixint)
        b"\xcd\x01\x00",
        b"\xcd\x00\x05",  # uint 16
        b"\xce\xff\xff\xff\xff",
        b"\xce\x00\x00\x00\x05",  # uint 32, up to the largest id
        b"\xcf" + struct.pack(">Q", 5),
        b"\xcf" + struct.pack(">Q", MAX_ID),  # uint 64
    ]


def rooms_in_every_width() -> list[bytes]:
    return [
        b"\xa1r",
        b"\xbf" + b"r" * 31,  # fixstr: the shortest and the longest
        b"\xd9\x20" + b"r" * 32,  # str 8: the longest name
        b"\xd9\x01r",  # str 8 for a short one
        b"\xa5a-z._",
    ]


def data_in_every_width() -> list[bytes]:
    return [
        b"\xc4\x01x",
        b"\xc4\xff" + b"x" * 255,  # bin 8
        b"\xc5\x01\x00" + b"x" * 256,
        b"\xc5\x00\x01x",  # bin 16
        b"\xc6\x00\x00\x00\x02xy",  # bin 32
    ]


@pytest.mark.parametrize("ident", ids_in_every_width())
@pytest.mark.parametrize("room", rooms_in_every_width())
@pytest.mark.parametrize("data", data_in_every_width())
def test_every_width_msgpack_allows_is_read(ident: bytes, room: bytes, data: bytes) -> None:
    """Not only the widths clients pick: none of these is left to the slow path."""
    wire = layout(ident, room, data)
    assert generic(wire) is not None
    assert agrees(wire) is not None


def test_a_seal_of_the_most_data_is_read_and_one_byte_more_refused() -> None:
    for size, read in ((p.MAX_DATA, True), (p.MAX_DATA + 1, False)):
        wire = layout(b"\x05", b"\xa5lobby", b"\xc5" + struct.pack(">H", size) + b"x" * size)
        assert len(wire) <= p.MAX_PACKET
        assert (agrees(wire) is not None) is read
        assert (generic(wire) is not None) is read


def packed(*pairs: tuple[object, object]) -> bytes:
    """A map with exactly these entries, in this order, packed by msgpack itself."""
    out = msgpack.Packer(use_bin_type=True).pack_map_header(len(pairs))
    for key, value in pairs:
        out += msgpack.packb(key, use_bin_type=True) + msgpack.packb(value, use_bin_type=True)
    return out


def test_other_layouts_are_left_to_the_decoder_which_still_reads_them() -> None:
    seal = p.Seal(5, "lobby", b"x")
    for wire in (
        packed(("t", "seal"), ("room", "lobby"), ("id", 5), ("data", b"x")),  # order
        packed(("t", "seal"), ("id", 5), ("room", "lobby"), ("data", b"x"), ("z", 1)),  # extra
        SEAL_HEAD + b"\xd1\x00\x05" + b"\xa4room\xa5lobby\xa4data\xc4\x01x",  # int 16
        SEAL_HEAD + b"\x05\xa4room\xd9\x05lobby\xa4data\xc4\x01x",  # str 8: read, same
    ):
        assert agrees(wire) in (None, seal)
        assert generic(wire) == seal


@pytest.mark.parametrize(
    "wire",
    [
        SEAL_HEAD + b"\xcf" + struct.pack(">Q", 2**32) + b"\xa4room\xa5lobby\xa4data\xc4\x01x",
        SEAL_HEAD + b"\x05\xa4room\xa5lo by\xa4data\xc4\x01x",  # not a name
        SEAL_HEAD + b"\x05\xa4room\xa0\xa4data\xc4\x01x",  # empty room
        SEAL_HEAD + b"\x05\xa4room\xd9\x21" + b"r" * 33 + b"\xa4data\xc4\x01x",  # 33 long
        SEAL_HEAD + b"\x05\xa4room\xa2\xc3\xa9\xa4data\xc4\x01x",  # é: UTF-8, not a name
        SEAL_HEAD + b"\x05\xa4room\xa2\xff\xfe\xa4data\xc4\x01x",  # not UTF-8
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc4\x00",  # no data
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc4\x01x!",  # a byte after the map
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc4\x02x",  # one byte short
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xa1x",  # data as a string
        SEAL_HEAD + b"\xc3\xa4room\xa5lobby\xa4data\xc4\x01x",  # id true
        SEAL_HEAD + b"\xff\xa4room\xa5lobby\xa4data\xc4\x01x",  # id -1
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc6" + struct.pack(">I", 65001) + b"x" * 65001,
        # Tags next to the ones it reads, laid out so that reading them as their neighbours
        # would give a seal: an empty map as the id, an int 8 read as 16 bytes of uint,
        # an ext as 8 bytes of bin length.
        SEAL_HEAD + b"\x80\xa4room\xa5lobby\xa4data\xc4\x01x",
        SEAL_HEAD + b"\xd0" + bytes(16) + b"\xa4room\xa5lobby\xa4data\xc4\x01x",
        SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc7" + struct.pack(">Q", 1) + b"x",
    ],
)
def test_what_the_decoder_refuses_the_reader_leaves_to_it(wire: bytes) -> None:
    assert read_seal(wire) is None
    assert generic(wire) is None
    with pytest.raises(RemoteProtocolError):
        codec.decode_from_client(wire)


def test_more_than_a_packet_is_never_read() -> None:
    body = b"x" * (p.MAX_PACKET - 20)
    wire = SEAL_HEAD + b"\x05\xa4room\xa5lobby\xa4data\xc5" + struct.pack(">H", len(body)) + body
    assert len(wire) > p.MAX_PACKET
    assert read_seal(wire) is None
    assert read_seal(wire[: p.MAX_PACKET]) is None  # cut: the lengths no longer add up


@given(st.binary(max_size=40))
def test_the_name_check_on_bytes_is_the_name_rule(raw: bytes) -> None:
    text = raw.decode("latin-1")
    assert _is_name(raw, 0, len(raw)) == (NAME_RE.fullmatch(text) is not None)
    assert _is_name(b"!" + raw + b"!", 1, len(raw)) == _is_name(raw, 0, len(raw))


def test_the_decoder_reads_seals_this_way_exactly_when_compiled() -> None:
    from severus_cli.core.wire import seal_reader

    compiled = not re.search(r"\.py$", seal_reader.__file__ or "")
    assert codec.READ_SEALS is compiled


def test_the_decoder_answers_seals_with_the_reader_when_it_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the reader on (as compiled), a seal in the clients' layout never reaches the
    generic decoder, and everything else still does."""
    monkeypatch.setattr(codec, "READ_SEALS", True)
    slow: list[bytes] = []
    generic_decode = codec.decode

    def counted(data: bytes, table: dict[str, type[p.Packet]]) -> p.Packet:
        slow.append(data)
        return generic_decode(data, table)

    monkeypatch.setattr(codec, "decode", counted)
    seal = p.Seal(9, "lobby", b"sealed")
    assert codec.decode_from_client(p.encode(seal)) == seal
    assert slow == []  # (compiled, the patch is not seen: the reader answers anyway)
    join = p.Join(3, "rust")
    assert codec.decode_from_client(p.encode(join)) == join
    refused = SEAL_HEAD + b"\x05\xa4room\xa5lo by\xa4data\xc4\x01x"
    with pytest.raises(RemoteProtocolError):
        codec.decode_from_client(refused)
