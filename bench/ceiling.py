"""The ceiling: the least a Python chat relay on this stack can do per message.

An asyncio TLS server that forwards every length-prefixed frame it receives to every
other connection, as it is: no Noise, no msgpack, no rooms, no checks. Severus's host
cannot be cheaper than this on the same stack; the gap between them is what our
protocol and safety cost. Run: ``python -m bench.ceiling PORT CERT KEY``.
"""

from __future__ import annotations

import asyncio
import ssl
import sys


class Forwarder(asyncio.Protocol):
    peers: set[Forwarder] = set()

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        Forwarder.peers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        Forwarder.peers.discard(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 2:
            size = (buffer[start] << 8) | buffer[start + 1]
            if len(buffer) - start < 2 + size:
                break
            frame = bytes(buffer[start : start + 2 + size])
            start += 2 + size
            for peer in Forwarder.peers:
                if peer is not self and peer._transport is not None:
                    peer._transport.write(frame)
        del buffer[:start]


async def serve(port: int, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Forwarder, "127.0.0.1", port, ssl=context)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
