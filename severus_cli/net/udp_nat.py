"""One UDP socket for QUIC, STUN and hole punching, on both sides.

NAT traversal only works if discovery, punching and QUIC share a socket: the NAT
mapping the STUN server observed, and the hole the punch opened, belong to that
socket's port. STUN and punch packets are told apart from QUIC by their first byte
(RFC 7983), so the host's QUIC server simply diverts them before QUIC parsing.

- Host: :class:`NatSocket` takes over the QUIC server's socket, diverts STUN and
  punches and passes the rest on; :class:`StunTransactions` matches Binding answers
  to their requests.
- Participant: :func:`socket_binding` and :func:`punch_socket` work on a bare socket
  before it is handed to QUIC (``open_quic(sock=...)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from severus_cli.core.nat.stun import (
    BINDING_SUCCESS,
    TXID_SIZE,
    Address,
    StunError,
    binding_indication,
    binding_request,
    decode,
    looks_like_stun,
)

RETRANSMIT = (0.25, 0.5, 1.0, 1.0, 1.0)  # seconds between Binding Requests (RFC 5389-ish)
PUNCH_TIMES = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6)  # when the host sends its punches
PUNCH_INTERVAL = 0.1  # how often the participant sends its punches
if TYPE_CHECKING:
    from aioquic.asyncio.server import QuicServer

Sendto = Callable[[bytes, Address], None]


def wire_address(address: Address, family: int) -> Address:
    """An IPv4 endpoint as a dual-stack IPv6 socket needs it (``::ffff:a.b.c.d``)."""
    host, port = address
    if family == socket.AF_INET6 and "." in host:
        return (f"::ffff:{host}", port)
    return address


def plain_address(address: tuple[Any, ...]) -> Address:
    host = str(address[0])
    if host.startswith("::ffff:") and "." in host:
        host = host.removeprefix("::ffff:")
    return (host, int(address[1]))


class StunTransactions:
    """Binding Requests in flight on one socket, answered by transaction id."""

    def __init__(self, sendto: Sendto) -> None:
        self._sendto = sendto
        self._pending: dict[bytes, asyncio.Future[Address]] = {}

    def received(self, data: bytes) -> None:
        """A STUN datagram arrived; resolve the request it answers, if any."""
        try:
            message = decode(data)
        except StunError:
            return
        future = self._pending.get(message.txid)
        if message.kind == BINDING_SUCCESS and message.mapped and future and not future.done():
            future.set_result(message.mapped)

    async def binding(self, server: Address, timeout: float = 3.0) -> Address:
        """Our public endpoint as ``server`` sees it; TimeoutError if it never answers."""
        txid = os.urandom(TXID_SIZE)
        future: asyncio.Future[Address] = asyncio.get_running_loop().create_future()
        self._pending[txid] = future
        request = binding_request(txid)
        try:
            async with asyncio.timeout(timeout):
                for pause in RETRANSMIT:
                    self._sendto(request, server)
                    done, _ = await asyncio.wait({future}, timeout=pause)
                    if done:
                        return future.result()
                return await future
        finally:
            del self._pending[txid]


class NatSocket(asyncio.DatagramProtocol):
    """Stands in front of a QUIC server on its own socket: STUN answers and punches
    stop here, every other datagram goes on to QUIC untouched."""

    def __init__(self, server: QuicServer) -> None:
        transport = server._transport
        if transport is None:
            raise ValueError("the QUIC server is not listening")
        self._server = server
        self._transport = transport
        self.stun = StunTransactions(self.sendto)
        transport.set_protocol(self)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if looks_like_stun(data):
            self.stun.received(data)  # a Binding answer, or a participant's punch (ignored)
        else:
            self._server.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._server.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connection_lost(exc)

    def sendto(self, data: bytes, address: Address) -> None:
        transport = self._transport
        if not transport.is_closing():
            family = transport.get_extra_info("socket").family
            with contextlib.suppress(OSError):
                transport.sendto(data, wire_address(address, family))

    def punch(self, address: Address) -> None:
        """Send a few punches to a participant's public endpoint: this opens our NAT
        for its packets, and the first that gets through opens its NAT for ours."""
        loop = asyncio.get_running_loop()
        for at in PUNCH_TIMES:
            loop.call_later(at, self.sendto, binding_indication(os.urandom(TXID_SIZE)), address)


async def socket_binding(sock: socket.socket, server: Address, timeout: float = 3.0) -> Address:
    """Our public endpoint as ``server`` sees it, asked from ``sock`` (non-blocking)."""
    txid = os.urandom(TXID_SIZE)
    request = binding_request(txid)
    target = wire_address(server, sock.family)

    async def answer() -> Address:
        while True:
            data, _ = await _recvfrom(sock, 2048)
            with contextlib.suppress(StunError):
                message = decode(data)
                if message.txid == txid and message.mapped:
                    return message.mapped

    async with asyncio.timeout(timeout):
        for pause in (*RETRANSMIT, timeout):
            await _sendto(sock, request, target)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    return await answer()
    raise TimeoutError


async def punch_socket(
    sock: socket.socket, peer: Address, duration: float, any_port: bool = False
) -> Address | None:
    """Punch towards ``peer`` from ``sock`` until a packet from ``peer`` arrives (the
    hole is open both ways: that endpoint) or ``duration`` passes (None). With
    ``any_port``, a packet from ``peer``'s address on another port counts too, and its
    endpoint is returned: a host behind a symmetric NAT punches from a new port, which
    reaches us only when our router forwards our port to us (a mapping)."""
    target = wire_address(peer, sock.family)

    async def keep_punching() -> None:
        while True:
            with contextlib.suppress(OSError):
                await _sendto(sock, binding_indication(os.urandom(TXID_SIZE)), target)
            await asyncio.sleep(PUNCH_INTERVAL)

    async def heard() -> Address:
        while True:
            _, source = await _recvfrom(sock, 2048)
            endpoint = plain_address(source)
            if endpoint == peer or (any_port and endpoint[0] == peer[0]):
                return endpoint

    sender = asyncio.create_task(keep_punching())
    try:
        async with asyncio.timeout(duration):
            return await heard()
    except (TimeoutError, OSError):
        return None
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


# loop.sock_recvfrom() and loop.sock_sendto() raise NotImplementedError on uvloop: these
# do the same (wait for the socket, then try again) on any event loop.


async def _recvfrom(sock: socket.socket, size: int) -> tuple[bytes, Any]:
    while True:
        try:
            return sock.recvfrom(size)
        except (BlockingIOError, InterruptedError):
            await _until_ready(sock, writing=False)


async def _sendto(sock: socket.socket, data: bytes, target: Any) -> None:
    while True:
        try:
            sock.sendto(data, target)
            return
        except (BlockingIOError, InterruptedError):
            await _until_ready(sock, writing=True)


async def _until_ready(sock: socket.socket, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writing:
        loop.add_writer(sock, wake)
    else:
        loop.add_reader(sock, wake)
    try:
        await ready
    finally:
        if writing:
            loop.remove_writer(sock)
        else:
            loop.remove_reader(sock)
