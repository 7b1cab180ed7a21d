"""The ceiling: the least a Python chat relay on this stack can do per message.

An asyncio server that forwards every length-prefixed frame it receives to every other
connection, as it is: no Noise, no msgpack, no rooms, no checks. Severus's host cannot be
cheaper than this on the same stack; the gap between them is what our protocol and
safety cost.

By default it runs TLS the way the severus host does (``severus_cli/net/tls_bio.py``,
whose technique is copied here, not imported): an ``ssl.SSLObject`` over two memory BIOs
inside a plain TCP ``asyncio.BufferedProtocol`` reading into one shared buffer, with
everything written to one connection during one event-loop turn encrypted and sent
together (one TLS record batch, one ``send()``), and reading stopped once OpenSSL holds
nothing more (no SSLWantReadError to make). That is the cheapest TLS this stack has, so
this is the floor. ``--sslproto`` runs the
stock asyncio TLS transport instead (one ``SSLObject.write`` and one ``send()`` per
frame, a 256 KiB read buffer per connection), to show what the memory-BIO technique saves.

Run: ``python -m bench.ceiling PORT CERT KEY [--sslproto]``.
"""

from __future__ import annotations

import asyncio
import ssl
import sys

READ_CHUNK = 16384  # TLS records carry at most 16 KiB of plaintext


def split_frames(buffer: bytearray) -> list[bytes]:
    """Take every complete 2-byte-length-prefixed frame (prefix included) off ``buffer``."""
    frames: list[bytes] = []
    start = 0
    while len(buffer) - start >= 2:
        size = (buffer[start] << 8) | buffer[start + 1]
        if len(buffer) - start < 2 + size:
            break
        frames.append(bytes(buffer[start : start + 2 + size]))
        start += 2 + size
    del buffer[:start]
    return frames


class BioForwarder(asyncio.BufferedProtocol):
    """TLS over memory BIOs, writes coalesced per loop turn, reads into one buffer for
    every connection (as the severus host)."""

    peers: set[BioForwarder] = set()
    context: ssl.SSLContext
    received = memoryview(bytearray(256 * 1024))  # used up before the next read

    def __init__(self) -> None:
        self._raw: asyncio.Transport | None = None
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._ssl = self.context.wrap_bio(self._in, self._out, server_side=True)
        self._ready = False
        self._buffer = bytearray()
        self._pending: list[bytes] = []
        self._scheduled = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport

    def connection_lost(self, exc: Exception | None) -> None:
        BioForwarder.peers.discard(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return BioForwarder.received

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(BioForwarder.received[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        assert self._raw is not None
        self._in.write(data)
        if not self._ready:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                self._send_out()
                return
            except (ssl.SSLError, OSError):
                self._raw.abort()
                return
            self._send_out()
            self._ready = True
            BioForwarder.peers.add(self)
        while True:
            try:
                chunk = self._ssl.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLError, OSError):  # close_notify or a broken record
                self._raw.close()
                return
            if not chunk:
                self._raw.close()
                return
            self._buffer += chunk
            if not self._in.pending and not self._ssl.pending():
                break  # as the host: no SSLWantReadError to make
        self._send_out()
        for frame in split_frames(self._buffer):
            for peer in BioForwarder.peers:
                if peer is not self:
                    peer.write(frame)

    def write(self, frame: bytes) -> None:
        self._pending.append(frame)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        if self._raw is None or self._raw.is_closing():
            return
        try:
            self._ssl.write(b"".join(pending))
        except (ssl.SSLError, OSError):
            self._raw.abort()
            return
        self._send_out()

    def _send_out(self) -> None:
        if self._out.pending and self._raw is not None:
            self._raw.write(self._out.read())


class SslprotoForwarder(asyncio.Protocol):
    """The stock asyncio TLS transport: one encrypted write per frame."""

    peers: set[SslprotoForwarder] = set()

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        SslprotoForwarder.peers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        SslprotoForwarder.peers.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for frame in split_frames(self._buffer):
            for peer in SslprotoForwarder.peers:
                if peer is not self and peer._transport is not None:
                    peer._transport.write(frame)


async def serve(port: int, cert: str, key: str, sslproto: bool) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    if sslproto:
        server = await loop.create_server(SslprotoForwarder, "127.0.0.1", port, ssl=context)
    else:
        BioForwarder.context = context
        server = await loop.create_server(BioForwarder, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], "--sslproto" in sys.argv[4:]))
