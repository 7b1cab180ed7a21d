"""Length-prefixed frames: split anywhere, batched, and bounded."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.wire.framing import HEADER_SIZE, MAX_FRAME, FrameDecoder, encode_frame
from severus_cli.errors import LocalProtocolError, RemoteProtocolError


def test_encode_frame_prefixes_big_endian_length() -> None:
    assert encode_frame(b"") == b"\x00\x00"
    assert encode_frame(b"abc") == b"\x00\x03abc"
    assert encode_frame(b"x" * 258)[:2] == b"\x01\x02"


def test_encode_frame_accepts_exactly_the_maximum() -> None:
    frame = encode_frame(b"\xaa" * MAX_FRAME)
    assert frame[:2] == b"\xff\xff"
    assert len(frame) == MAX_FRAME + HEADER_SIZE


def test_encode_frame_refuses_more_than_65535() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(b"\x00" * (MAX_FRAME + 1))


def test_frames_fed_one_byte_at_a_time() -> None:
    payloads = [b"hello", b"", b"x" * 300, bytes(range(256))]
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    got: list[bytes] = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert got == payloads
    assert decoder.buffered == 0


def test_only_complete_frames_come_out() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00") == []
    assert decoder.feed(b"\x05ab") == []
    assert decoder.buffered == 4
    assert decoder.feed(b"cde\x00") == [b"abcde"]
    assert decoder.buffered == 1
    assert decoder.feed(b"\x01z") == [b"z"]
    assert decoder.buffered == 0


def test_many_frames_in_one_chunk() -> None:
    payloads = [str(i).encode() * (i % 7) for i in range(500)]
    decoder = FrameDecoder()
    stream = b"".join(encode_frame(p) for p in payloads)
    assert decoder.feed(stream + b"\x00\x09part") == payloads
    assert decoder.buffered == 6


def test_empty_feed_is_harmless() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"") == []
    assert decoder.buffered == 0


def test_exact_max_size_accepted_max_plus_one_refused() -> None:
    decoder = FrameDecoder(max_frame=100)
    assert decoder.feed(encode_frame(b"m" * 100)) == [b"m" * 100]
    with pytest.raises(RemoteProtocolError) as caught:
        decoder.feed(encode_frame(b"m" * 101))
    assert caught.value.code == "too_large"


def test_oversized_header_refused_before_its_body_arrives() -> None:
    decoder = FrameDecoder(max_frame=10)
    with pytest.raises(RemoteProtocolError) as caught:
        decoder.feed(b"\x00\x0b")  # announces 11 bytes, no body yet
    assert caught.value.code == "too_large"


def test_default_limit_accepts_the_largest_frame() -> None:
    decoder = FrameDecoder()
    payload = b"\x01" * MAX_FRAME
    assert decoder.feed(encode_frame(payload)) == [payload]


def test_oversized_frame_after_good_ones_in_the_same_chunk() -> None:
    decoder = FrameDecoder(max_frame=4)
    with pytest.raises(RemoteProtocolError) as caught:
        decoder.feed(encode_frame(b"ok") + b"\x00\x05")
    assert caught.value.code == "too_large"


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=7000), max_size=30),
)
def test_any_split_gives_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder()
    got: list[bytes] = []
    for start, stop in itertools.pairwise(points):
        got += decoder.feed(stream[start:stop])
    assert got == payloads
    assert decoder.buffered == 0


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=7000), max_size=30),
    kinds=st.lists(st.sampled_from([bytes, bytearray, memoryview]), min_size=1),
)
def test_chunks_of_any_buffer_type_give_the_same_frames(
    payloads: list[bytes], cuts: list[int], kinds: list[type]
) -> None:
    """Chunks cut straight from ``bytes`` (nothing left over) and those that go through
    the decoder's buffer (a leftover, or another buffer type) agree, and every frame
    comes out as ``bytes`` of its own."""
    stream = b"".join(encode_frame(p) for p in payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder()
    got: list[bytes] = []
    for index, (start, stop) in enumerate(itertools.pairwise(points)):
        chunk = kinds[index % len(kinds)](stream[start:stop])
        got += decoder.feed(chunk)
    assert got == payloads
    assert all(type(frame) is bytes for frame in got)
    assert decoder.buffered == 0
