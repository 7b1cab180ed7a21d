"""The frame decoder takes any bytes-like chunk and leaves nothing behind when a chunk
ends on a frame boundary."""

from __future__ import annotations

import pytest

from severus_cli.core.wire.framing import FrameDecoder, encode_frame

STREAM = encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_bytes_like_chunk_gives_the_same_frames(kind: type) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(kind(STREAM[:4])) == []
    assert decoder.feed(kind(STREAM[4:])) == [b"one", b"", b"three"]
    assert decoder.buffered == 0
    chunk = bytearray(STREAM)
    assert decoder.feed(chunk) == [b"one", b"", b"three"]
    chunk[2:5] = b"XYZ"  # the caller reuses its buffer: frames already cut are copies
    assert decoder.feed(kind(STREAM[:6])) == [b"one"]
    assert decoder.buffered == 1
