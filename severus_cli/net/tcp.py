"""Direct transport: TCP + TLS 1.3, one asyncio.Protocol per connection.

The listener accepts plain TCP; a connection over the per-address cap is dropped before
any TLS work. TLS itself runs over memory BIOs (:mod:`severus_cli.net.tls_bio`) rather
than asyncio's TLS transport, which keeps a 256 KiB buffer per connection: an idle
participant costs the host a few KiB. Frames are parsed from the protocol's buffer (no
readexactly per frame), writes made in one loop turn leave in one TLS batch, and a
peer that stops reading is cut off once its unsent backlog passes ``max_backlog``.

Reads land in one buffer per event loop (:class:`asyncio.BufferedProtocol`), which
TLS copies from at once: asyncio's plain protocols get a new 256 KiB ``recv()`` buffer
for every read, which glibc maps and unmaps each time, about 14 µs per read, more
than the host spends on the message it carries.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from typing import Protocol, cast

from severus_cli.core.host.actions import MAX_BACKLOG as MAX_BACKLOG
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import Link
from severus_cli.net.tls_bio import TlsConnection

READ_BUFFER = 256 * 1024  # what asyncio reads at most at once (its max_size)
_BUFFERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, memoryview] = (
    weakref.WeakKeyDictionary()
)


def read_buffer(loop: asyncio.AbstractEventLoop) -> memoryview:
    """The one read buffer of ``loop``: what a read brings is used before the next."""
    buffer = _BUFFERS.get(loop)
    if buffer is None:
        buffer = _BUFFERS[loop] = memoryview(bytearray(READ_BUFFER))
    return buffer


class HostSide(Protocol):
    """What a connection hands its bytes to: the :class:`~severus_cli.net.host_loop.HostLoop`
    (a protocol, not the class, so the compiled build's calls accept any such object)."""

    def open(
        self, link: Link, waited: float = 0.0, binding: bytes = b"", source: str = ""
    ) -> int: ...

    def feed(self, conn: int, data: bytes) -> None: ...

    def lost(self, conn: int, reason: str = "") -> None: ...


class TcpHostProtocol(asyncio.BufferedProtocol):
    """One TCP connection to the host: TLS, then relayed into the host loop."""

    # One per connection, kept for its life: slots keep an idle one small.
    __slots__ = (
        "_accepted",
        "_buffer",
        "_conn",
        "_context",
        "_gone",
        "_guard",
        "_handshake_timeout",
        "_host",
        "_max_backlog",
        "_raw",
        "_slot",
        "_timer",
        "_tls",
        "peer",
    )

    def __init__(
        self,
        host_loop: HostSide,
        context: ssl.SSLContext | None = None,
        guard: ConnectionGuard | None = None,
        max_backlog: int = MAX_BACKLOG,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._host = host_loop
        self._context = context
        self._guard = guard or ConnectionGuard(0)
        self._max_backlog = max_backlog
        self._handshake_timeout = handshake_timeout
        self._raw: asyncio.Transport | None = None
        self._buffer = memoryview(b"")
        self._tls: TlsConnection | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._slot: str | None = None
        self._accepted = 0.0
        self._conn = 0
        self._gone = False
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not isinstance(): uvloop's transports do not derive from asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        address = transport.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if address else "?"
        self._slot = self._guard.acquire(address[0] if address else "?")
        if self._slot is None:
            self._gone = True
            transport.abort()  # over the per-address cap: not even TLS
            return
        self._raw = transport
        self._buffer = read_buffer(asyncio.get_running_loop())
        self._accepted = time.monotonic()
        if self._context is None:  # a test without TLS
            self._opened()
            return
        self._tls = TlsConnection(transport, self._context, self._opened, self._plaintext)
        self._timer = asyncio.get_running_loop().call_later(
            self._handshake_timeout, self._handshake_too_slow
        )

    def _handshake_too_slow(self) -> None:
        if self._tls is not None and not self._tls.ready and self._raw is not None:
            self._raw.abort()

    def _opened(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # The TLS time counts against the same deadline as the Noise handshake and hello.
        binding = self._tls.binding if self._tls is not None else b""
        self._conn = self._host.open(
            self,
            waited=time.monotonic() - self._accepted,
            binding=binding,
            source=self._slot or "",
        )

    def _plaintext(self, data: bytes) -> None:
        if self._conn and not self._gone:
            self._host.feed(self._conn, data)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Bytes read (only until this returns: the read buffer is the loop's)."""
        if self._tls is not None:
            self._tls.data_received(data)  # copied into the TLS input at once
        else:
            self._plaintext(bytes(data))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._conn and not self._gone:
            self._host.lost(self._conn, "connection lost" if exc else "disconnected")
        self._end()

    def _end(self) -> None:
        self._gone = True
        if self._slot is not None:
            self._guard.release(self._slot)
            self._slot = None

    def write(self, data: bytes) -> None:
        """Queue a frame for the peer (once per recipient of every broadcast: kept lean)."""
        tls = self._tls
        if tls is not None:
            if not self._gone:
                tls.write(data)
                if tls.over(self._max_backlog):
                    self._too_slow()
            return
        raw = self._raw  # a test without TLS
        if raw is not None and not self._gone and not raw.is_closing():
            raw.write(data)
            if raw.get_write_buffer_size() > self._max_backlog:
                self._too_slow()

    def _too_slow(self) -> None:
        self._host.lost(self._conn, "too slow to keep up")
        self._gone = True
        if self._raw is not None:
            self._raw.abort()
        self._end()

    def close(self) -> None:
        if self._tls is not None:
            self._tls.close()
        elif self._raw is not None:
            self._raw.close()


async def serve_tcp(
    host_loop: HostSide,
    context: ssl.SSLContext,
    bind: str | list[str] | None,
    port: int,
    handshake_timeout: float = 10.0,
    guard: ConnectionGuard | None = None,
    max_backlog: int = MAX_BACKLOG,
) -> asyncio.Server:
    """Listen for direct connections; each one joins ``host_loop``."""
    loop = asyncio.get_running_loop()
    shared = guard or ConnectionGuard(0)
    return await loop.create_server(
        lambda: TcpHostProtocol(host_loop, context, shared, max_backlog, handshake_timeout),
        host=bind,
        port=port,
        reuse_address=True,
    )
