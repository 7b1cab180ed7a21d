"""The joiner's end of QUIC: one connection, one stream, a keepalive.

It yields an asyncio stream pair, exactly what TCP+TLS gives, so :class:`ClientLink`
runs unchanged on top. What QUIC does not give by itself is added here:

- the socket is *connected* to the host's address, so the kernel reports an ICMP
  "port unreachable" (``error_received``): a join to a port where nothing listens
  fails at once instead of waiting out the handshake timeout, and a host whose
  process died is told apart from one that merely went quiet;
- closing waits (briefly) until the host acknowledged the end of our stream, so our
  last packet (``bye`` after ``/quit``, or a ``send``'s last line) arrives before the
  connection closes: closing a QUIC connection drops whatever was still queued;
- an end the host did not announce becomes a sentence a person understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from cryptography.hazmat.primitives.serialization import Encoding

from severus_cli.errors import ConnectionLost, HostUnreachable, JoinSecretRefused
from severus_cli.net.client_link import ClientLink, PortClosed, Verify
from severus_cli.net.quic_common import (
    IDLE_TIMEOUT,
    drain,
    quic_channel_binding,
    stream_delivered,
)
from severus_cli.net.tls import ALPN

KEEPALIVE = 4.0  # a QUIC PING this often, answered within as long: a dead host shows in <= 8 s
DELIVERY_WAIT = 2.0  # at most this long, on close, for the host to acknowledge our last bytes
STOPPED_ANSWERING = "the host stopped answering"
PORT_GONE = "the host went away (nothing listens on its port any more)"


class _ToPeer(asyncio.DatagramTransport):
    """A connected socket's transport for aioquic, which names the address on every
    send: uvloop refuses an address on a connected socket, so drop it."""

    def __init__(self, inner: asyncio.DatagramTransport) -> None:
        super().__init__()
        self._inner = inner

    def sendto(self, data: Any, addr: Any = None) -> None:
        self._inner.sendto(data)


class QuicClientProtocol(QuicConnectionProtocol):
    """aioquic's client protocol, told about ICMP errors and the delivery of our stream."""

    def __init__(
        self,
        *args: Any,
        connected: bool = False,
        sock: socket.socket | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._socket_connected = connected
        self._sock = sock  # read directly for a batch of datagrams
        self.refused = False  # the host's machine answered "port unreachable"
        self.stream_id: int | None = None
        self.reader: asyncio.StreamReader | None = None
        self.delivered = asyncio.Event()
        self.closing = False  # we close (so the end is no news to report)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._socket_connected:
            self._transport = _ToPeer(cast(asyncio.DatagramTransport, transport))

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for our connected socket (the base class ignores them)."""
        if not isinstance(exc, ConnectionRefusedError) or self.refused:
            return  # other ICMP errors may be passing (a route flaps): QUIC retries
        self.refused = True
        waiter = self._connected_waiter
        if waiter is not None and not waiter.done():
            self._connected_waiter = None
            waiter.set_exception(ConnectionRefusedError())
        elif self.reader is not None and not self.closing:
            self.lost(PORT_GONE)

    def lost(self, reason: str) -> None:
        """End the session with ``reason`` for the reader (what the person reads)."""
        if self.reader is not None and self.reader.exception() is None:
            self.reader.set_exception(ConnectionLost(reason))
        self.delivered.set()  # nobody will acknowledge anything any more

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        self._take(data, addr)
        if self._sock is not None:
            drain(self._sock.recvfrom, self._take, self.error_received)
        self.transmit()  # once for the whole batch
        sent, quic = self.stream_id, self._quic
        if sent is not None and quic._close_event is None and stream_delivered(quic, sent):
            self.delivered.set()

    def _take(self, data: bytes | str, addr: Any) -> None:
        self._quic.receive_datagram(cast(bytes, data), addr, now=self._loop.time())
        self._process_events()

    def quic_event_received(self, event: events.QuicEvent) -> None:
        if isinstance(event, events.ConnectionTerminated):
            self.delivered.set()
            if not self.closing and event.reason_phrase:
                self.lost(f"the host closed the connection: {event.reason_phrase}")
        elif (
            isinstance(event, events.StreamDataReceived)
            and self.reader is not None
            and (self.closing or self.reader.at_eof())
        ):
            return  # we are closing and ended the reader: the host's late data has no reader
        super().quic_event_received(event)


class QuicClient:
    """A client QUIC connection with one stream and a keepalive."""

    def __init__(self, protocol: QuicClientProtocol, transport: asyncio.BaseTransport) -> None:
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
                self.protocol.lost(PORT_GONE if self.protocol.refused else STOPPED_ANSWERING)
                await on_dead()
                return

    async def close(self) -> None:
        """Close cleanly: let the host acknowledge the end of our stream (a moment on a
        live connection), then close the connection with NO_ERROR."""
        protocol = self.protocol
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()  # (unless the keepalive itself found the host dead)
        protocol.closing = True
        if protocol.stream_id is not None and not protocol.refused:
            protocol.transmit()  # the end of the stream (and what precedes it) now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.delivered.wait(), DELIVERY_WAIT)
        # aioquic fails its connect and ping waiters on close even when nobody awaits them
        # any more (a ping is shielded, so timing out leaves it behind): consume those
        # failures, or asyncio reports "Future exception was never retrieved".
        waiters = [protocol._connected_waiter, *protocol._ping_waiters.values()]
        for waiter in waiters:
            if waiter is not None:
                waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
        protocol.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.wait_closed(), 1.0)
        self._transport.close()


async def open_quic(
    host: str, port: int, timeout: float = 10.0, sock: socket.socket | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, QuicClient]:
    """Connect over QUIC; return the stream pair for the hop session and the client.

    A socket of our own is connected to the host (see the module docstring); one
    passed in (hole punching) is left as it is: it also talks to a relay."""
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
    own_socket = sock is None
    if sock is None:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(("::", 0, 0, 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
            sock.connect(address)
        except OSError as error:
            sock.close()
            raise HostUnreachable(
                f"cannot reach {host}:{port}: {error.strerror or error}"
            ) from None
    sock.setblocking(False)  # as asyncio sets it; the batch read relies on it
    connection = QuicConnection(configuration=configuration)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicClientProtocol(connection, connected=own_socket, sock=sock), sock=sock
    )
    client = QuicClient(protocol, transport)
    # aioquic notes a finished handshake only if someone already waits for it: start
    # waiting first. (On asyncio the waiter always came first; uvloop can handle the
    # host's answer before a task created in the same turn has started.)
    connected = asyncio.ensure_future(protocol.wait_connected())
    try:
        await asyncio.sleep(0)  # the wait starts (it was scheduled first)
        protocol.connect(address)
        await asyncio.wait_for(connected, timeout)
        reader, writer = await protocol.create_stream()
    except (TimeoutError, ConnectionError, OSError) as error:
        connected.cancel()
        await client.close()
        if protocol.refused:
            message = f"cannot reach {host}:{port}: nothing listens on UDP port {port} (QUIC)"
            raise PortClosed(message, "quic") from None
        what = "did not answer" if isinstance(error, TimeoutError) else "refused QUIC"
        raise HostUnreachable(f"{host}:{port} {what} (QUIC, {timeout:g} s)") from None
    except BaseException:
        connected.cancel()
        await client.close()
        raise
    protocol.stream_id = writer.get_extra_info("stream_id")
    protocol.reader = reader
    return reader, writer, client


async def hop_over_quic(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    client: QuicClient,
    static_private: bytes,
    verify: Verify,
    timeout: float,
    path: str,
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
            binding=quic_channel_binding(client.protocol._quic),
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
