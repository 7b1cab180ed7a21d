"""Direct transport: TCP + TLS 1.3, one asyncio.Protocol per connection.

The listener accepts plain TCP and upgrades each connection with ``start_tls`` only
after the per-address cap let it in, so a flood of connections from one address costs
the host a refused accept each, not a TLS handshake (and its 256 KiB buffer) each.
Frames are parsed from the protocol's buffer (no readexactly per frame), writes go
straight to the transport, and a peer that stops reading is cut off once its unsent
backlog passes ``max_backlog``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from severus_cli.core.host_types import MAX_BACKLOG as MAX_BACKLOG
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop

EARLY_LIMIT = 1 << 17  # bytes kept from before the host loop took the connection
TLS_SHUTDOWN_TIMEOUT = 5.0  # a peer that never answers close_notify is cut off


class TcpHostProtocol(asyncio.Protocol):
    """One TCP connection to the host: TLS, then relayed into the host loop."""

    def __init__(
        self,
        host_loop: HostLoop,
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
        self._transport: asyncio.Transport | None = None  # the TLS transport, once up
        self._raw: asyncio.Transport | None = None
        self._slot: str | None = None
        self._tls: asyncio.Task[None] | None = None
        self._early = bytearray()  # bytes that arrived with the end of the TLS handshake
        self._conn = 0
        self._gone = False
        self._arrived = 0.0  # loop time of the TCP accept
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        address = transport.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if address else "?"
        self._arrived = asyncio.get_running_loop().time()
        self._slot = self._guard.acquire(address[0] if address else "?")
        if self._slot is None:
            self._gone = True
            transport.abort()  # over the per-address cap: not even TLS
            return
        if self._context is None:  # already TLS (or a test without it)
            self._opened(transport)
            return
        self._raw = transport
        transport.pause_reading()  # start_tls takes over reading
        self._tls = asyncio.get_running_loop().create_task(self._start_tls(transport))

    async def _start_tls(self, raw: asyncio.Transport) -> None:
        assert self._context is not None
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                raw,
                self,
                self._context,
                server_side=True,
                ssl_handshake_timeout=self._handshake_timeout,
                ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
            )
        except Exception:  # a stranger's failed TLS handshake ends that connection only
            self._end()
            with contextlib.suppress(Exception):
                raw.abort()
            return
        if tls is None or self._gone:
            return
        assert isinstance(tls, asyncio.Transport)
        self._opened(tls)

    def _opened(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        waited = asyncio.get_running_loop().time() - self._arrived
        self._conn = self._host.open(self, waited)
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            self._host.feed(self._conn, early)

    def data_received(self, data: bytes) -> None:
        if self._conn:
            self._host.feed(self._conn, data)
        elif len(self._early) + len(data) <= EARLY_LIMIT:
            self._early += data
        elif self._transport is None and self._raw is not None:
            self._raw.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn and not self._gone:
            self._host.lost(self._conn, "connection lost" if exc else "disconnected")
        self._end()

    def _end(self) -> None:
        self._gone = True
        if self._slot is not None:
            self._guard.release(self._slot)
            self._slot = None

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_backlog:
            self._host.lost(self._conn, "too slow to keep up")
            self._gone = True
            transport.abort()
            self._end()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve_tcp(
    host_loop: HostLoop,
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
