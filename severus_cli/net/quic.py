"""QUIC transport (aioquic): the same hop session on one bidirectional stream.

The host side turns each QUIC connection into a :class:`~severus_cli.net.host_loop.
Link` for the one host loop; the client side yields an asyncio stream pair, exactly
what TCP+TLS gives, so :class:`ClientLink` runs unchanged on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer, serve
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicErrorCode
from cryptography.hazmat.primitives.serialization import Encoding

from severus_cli.core.host_types import MAX_BACKLOG
from severus_cli.errors import HostUnreachable, JoinSecretRefused
from severus_cli.net.client_link import ClientLink, Verify
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.tls import ALPN

IDLE_TIMEOUT = 30.0
KEEPALIVE = 4.0  # a QUIC PING this often, answered within as long: a dead host shows in <= 8 s
CLOSE_GRACE = 1.0  # time for a final error packet to arrive before the connection closes


def unacked_bytes(quic: QuicConnection, stream_id: int) -> int:
    """Bytes written to a stream that the peer has not acknowledged yet: aioquic keeps
    them all, so a peer that stops reading (or acknowledging) would grow this forever.
    Reads aioquic internals (checked by a test); 0 if their shape ever changes."""
    stream = getattr(quic, "_streams", {}).get(stream_id)
    buffer = getattr(getattr(stream, "sender", None), "_buffer", None)
    return len(buffer) if isinstance(buffer, bytearray) else 0


class QuicHostProtocol(QuicConnectionProtocol):
    """One QUIC connection to the host: its first client stream is the hop session."""

    def __init__(
        self,
        *args: Any,
        host_loop: HostLoop,
        guard: ConnectionGuard | None = None,
        max_backlog: int = MAX_BACKLOG,
        handshake_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._host = host_loop
        self._guard = guard or ConnectionGuard(0)
        self._max_backlog = max_backlog
        self._handshake_timeout = handshake_timeout
        self._slot: str | None = None
        self._counted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._arrived = 0.0  # loop time of the first packet
        self._stream: int | None = None
        self._conn = 0
        self._ended = False
        self.peer = "?"

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        if self._counted:
            super().datagram_received(data, addr)
            return
        self._counted = True  # the connection's first packet: count it, or refuse it
        self._arrived = self._loop.time()
        self._slot = self._guard.acquire(str(addr[0]))
        if self._slot is None:
            # Read the Initial (for its keys) but answer only with CONNECTION_CLOSE, so
            # the client's handshake fails instead of completing.
            raw = data.encode() if isinstance(data, str) else data
            self._quic.receive_datagram(raw, addr, now=self._loop.time())
            self._refuse("too many connections from your address")
            return
        super().datagram_received(data, addr)
        self._deadline = self._loop.call_later(
            self._handshake_timeout, self._refuse, "handshake timed out"
        )

    def _refuse(self, reason: str) -> None:
        """Close a connection that has no hop session (yet)."""
        if self._stream is None:
            self._quic.close(error_code=QuicErrorCode.CONNECTION_REFUSED, reason_phrase=reason)
            self.transmit()

    def quic_event_received(self, event: events.QuicEvent) -> None:
        if isinstance(event, events.StreamDataReceived):
            if self._stream is None:
                if self._slot is None or self._quic._close_event is not None:
                    return  # refused, or closing: no session for it
                self._stream = event.stream_id
                if self._deadline is not None:
                    self._deadline.cancel()  # the host loop's own timeout takes over
                address = self._quic._network_paths[0].addr if self._quic._network_paths else None
                self.peer = f"quic {address[0]}:{address[1]}" if address else "quic ?"
                self._conn = self._host.open(self, self._loop.time() - self._arrived)
            if event.stream_id != self._stream:
                return  # one stream per connection; others are ignored
            if event.data:
                self._host.feed(self._conn, event.data)
            if event.end_stream:
                self._end("disconnected")
        elif isinstance(event, events.ConnectionTerminated):
            self._end("connection lost")
            if self._deadline is not None:
                self._deadline.cancel()
            if self._slot is not None:
                self._guard.release(self._slot)
                self._slot = None

    def _end(self, reason: str) -> None:
        if not self._ended and self._stream is not None:
            self._ended = True
            self._host.lost(self._conn, reason)

    def write(self, data: bytes) -> None:
        if self._stream is not None and not self._ended:
            self._quic.send_stream_data(self._stream, data)
            if unacked_bytes(self._quic, self._stream) > self._max_backlog:
                self._end("too slow to keep up")
                self._quic.close(
                    error_code=QuicErrorCode.NO_ERROR, reason_phrase="too slow to keep up"
                )
                self.transmit()
                return
            self._transmit_soon()

    def close(self, error_code: int = 0, reason_phrase: str = "") -> None:
        """Finish the stream now and the connection a moment later, so the peer reads
        what was queued (such as a final error) before the connection goes."""
        if self._stream is not None and not self._ended:
            self._ended = True
            with contextlib.suppress(Exception):
                self._quic.send_stream_data(self._stream, b"", end_stream=True)
            self._transmit_soon()
        self._loop.call_later(CLOSE_GRACE, super().close, error_code, reason_phrase)


async def serve_quic(
    host_loop: HostLoop,
    cert_file: Path,
    key_file: Path,
    bind: str | None,
    port: int,
    guard: ConnectionGuard | None = None,
) -> QuicServer:
    """Listen for QUIC connections on UDP ``port``; each one joins ``host_loop``."""
    config = host_loop.core.config
    shared = guard or ConnectionGuard(0)
    configuration = QuicConfiguration(
        is_client=False, alpn_protocols=[ALPN], idle_timeout=IDLE_TIMEOUT
    )
    configuration.load_cert_chain(str(cert_file), str(key_file))

    def create_protocol(*args: Any, **kwargs: Any) -> QuicHostProtocol:
        return QuicHostProtocol(
            *args,
            host_loop=host_loop,
            guard=shared,
            max_backlog=config.max_backlog,
            handshake_timeout=config.handshake_timeout,
            **kwargs,
        )

    return await serve(
        bind or "::", port, configuration=configuration, create_protocol=create_protocol
    )


class QuicClient:
    """A client QUIC connection with one stream and a keepalive."""

    def __init__(self, protocol: QuicConnectionProtocol, transport: asyncio.BaseTransport) -> None:
        self.protocol = protocol
        self._transport = transport
        self._keepalive: asyncio.Task[None] | None = None

    def cert_hash(self) -> bytes:
        certificate = self.protocol._quic.tls._peer_certificate
        if certificate is None:
            raise HostUnreachable("the host presented no certificate")
        return hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()

    def closed_reason(self) -> str | None:
        """Why the host closed the QUIC connection, if it did (a reason it gave)."""
        event = self.protocol._quic._close_event
        return (event.reason_phrase or "closed") if event is not None else None

    def start_keepalive(self, on_dead: Callable[[], Awaitable[None]]) -> None:
        self._keepalive = asyncio.create_task(self._ping_forever(on_dead))

    async def _ping_forever(self, on_dead: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            try:
                await asyncio.wait_for(self.protocol.ping(), KEEPALIVE)
            except (ConnectionError, TimeoutError):
                await on_dead()
                return

    async def close(self) -> None:
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()  # (unless the keepalive itself found the host dead)
        # aioquic fails its connect and ping waiters on close even when nobody awaits them
        # any more (a ping is shielded, so timing out leaves it behind): consume those
        # failures, or asyncio reports "Future exception was never retrieved".
        waiters = [self.protocol._connected_waiter, *self.protocol._ping_waiters.values()]
        for waiter in waiters:
            if waiter is not None:
                waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.protocol.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.protocol.wait_closed(), 1.0)
        self._transport.close()


async def open_quic(
    host: str, port: int, timeout: float = 10.0, sock: socket.socket | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, QuicClient]:
    """Connect over QUIC; return the stream pair for the hop session and the client."""
    loop = asyncio.get_running_loop()
    configuration = QuicConfiguration(
        is_client=True,
        alpn_protocols=[ALPN],
        verify_mode=ssl.CERT_NONE,
        idle_timeout=IDLE_TIMEOUT,
        server_name="severus",
    )
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as error:
        raise HostUnreachable(f"cannot resolve {host}: {error.strerror or error}") from None
    family, _, _, _, address = infos[0]
    if sock is None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind(("::", 0, 0, 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
    connection = QuicConnection(configuration=configuration)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicConnectionProtocol(connection), sock=sock
    )
    quic_protocol = protocol
    client = QuicClient(quic_protocol, transport)
    # aioquic notes a finished handshake only if someone already waits for it: start
    # waiting first. (On asyncio the waiter always came first; uvloop can handle the
    # host's answer before a task created in the same turn has started.)
    connected = asyncio.ensure_future(quic_protocol.wait_connected())
    try:
        await asyncio.sleep(0)  # the wait starts (it was scheduled first)
        quic_protocol.connect(address)
        await asyncio.wait_for(connected, timeout)
        reader, writer = await quic_protocol.create_stream()
    except (TimeoutError, ConnectionError, OSError) as error:
        connected.cancel()
        await client.close()
        what = "did not answer" if isinstance(error, TimeoutError) else "refused QUIC"
        raise HostUnreachable(f"{host}:{port} {what} (QUIC, {timeout:g} s)") from None
    except BaseException:
        connected.cancel()
        await client.close()
        raise
    return reader, writer, client


async def hop_over_quic(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    client: QuicClient,
    static_private: bytes,
    verify: Verify,
    timeout: float,
    path: str,
    psk: bytes | None,
) -> ClientLink:
    """Run the hop session on a fresh QUIC connection; close it if that fails."""
    try:
        link = await ClientLink.handshake(
            reader,
            writer,
            client.cert_hash(),
            static_private,
            verify,
            timeout,
            on_close=client.close,
            path=path,
            psk=psk,
        )
    except JoinSecretRefused:
        reason = client.closed_reason()  # closed at the QUIC level: not the secret
        await client.close()
        if reason is not None:
            raise HostUnreachable(f"the host closed the connection: {reason}") from None
        raise
    except BaseException:
        await client.close()
        raise
    client.start_keepalive(link.close)
    return link
