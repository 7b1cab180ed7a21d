"""Direct transport: TCP + TLS 1.3, one asyncio.Protocol per connection.

Frames are parsed from the protocol's buffer (no readexactly per frame), writes go
straight to the transport, and a peer that stops reading is cut off once its
unsent backlog passes ``max_backlog``.
"""

from __future__ import annotations

import asyncio
import ssl

from severus_cli.net.host_loop import HostLoop

MAX_BACKLOG = 1 << 20


class TcpHostProtocol(asyncio.Protocol):
    """One TLS connection to the host, relayed into the host loop."""

    def __init__(self, host_loop: HostLoop, max_backlog: int = MAX_BACKLOG) -> None:
        self._host = host_loop
        self._max_backlog = max_backlog
        self._transport: asyncio.Transport | None = None
        self._conn = 0
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        address = transport.get_extra_info("peername")
        self.peer = f"{address[0]}:{address[1]}" if address else "?"
        self._conn = self._host.open(self)

    def data_received(self, data: bytes) -> None:
        self._host.feed(self._conn, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._host.lost(self._conn, "connection lost" if exc else "disconnected")

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._max_backlog:
            self._host.lost(self._conn, "too slow to keep up")
            transport.abort()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve_tcp(
    host_loop: HostLoop,
    context: ssl.SSLContext,
    bind: str | list[str] | None,
    port: int,
    handshake_timeout: float = 10.0,
) -> asyncio.Server:
    """Listen for direct connections; each one joins ``host_loop``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: TcpHostProtocol(host_loop),
        host=bind,
        port=port,
        ssl=context,
        ssl_handshake_timeout=handshake_timeout,
        reuse_address=True,
    )
