"""Length-prefixed frames: a 2-byte big-endian length, then that many bytes.

Two bytes are enough: a Noise message is at most 65,535 bytes, so no prefix can
announce more than the session is willing to read.
"""

from __future__ import annotations

from severus_cli.errors import LocalProtocolError, RemoteProtocolError

HEADER_SIZE = 2
MAX_FRAME = 65535


def encode_frame(payload: bytes | bytearray) -> bytes:
    """Prefix ``payload`` with its length (noiseprotocol hands out bytearrays)."""
    size = len(payload)
    if size > MAX_FRAME:
        raise LocalProtocolError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    return size.to_bytes(2, "big") + payload


class FrameDecoder:
    """Accumulate bytes, yield whole frames; refuse frames over ``max_frame``."""

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buffer = bytearray()
        self.max_frame = max_frame

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data``; return every frame now complete, in order."""
        buffer = self._buffer
        if buffer or type(data) is not bytes:
            buffer += data
            frames, used = self._cut(buffer)
            if used:
                del buffer[:used]
            return frames
        # Nothing left over from before (the common case): frames are cut from ``data``
        # itself, one copy each, and only a partial frame at its end is kept.
        frames, used = self._cut(data)
        if used < len(data):
            buffer += memoryview(data)[used:]
        return frames

    def _cut(self, buffer: bytes | bytearray) -> tuple[list[bytes], int]:
        """The whole frames at the start of ``buffer``, and how many bytes they took."""
        frames: list[bytes] = []
        start = 0
        end = len(buffer)
        while end - start >= HEADER_SIZE:
            size = (buffer[start] << 8) | buffer[start + 1]
            if size > self.max_frame:
                raise RemoteProtocolError(
                    f"frame of {size} bytes exceeds the limit of {self.max_frame}", "too_large"
                )
            stop = start + HEADER_SIZE + size
            if stop > end:
                break
            frames.append(bytes(buffer[start + HEADER_SIZE : stop]))
            start = stop
        return frames, start
