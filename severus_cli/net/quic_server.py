"""The host's QUIC listener: aioquic's server with address validation and caps.

Every Initial without a token is answered with a stateless Retry (RFC 9000 section
8.1), so a connection, and the state and per-address slot that come with it, exist
only for a source that proved it receives packets at its address: a spoofed source
never gets past the Retry, and a flood of Initials costs the host one small answer
each and no memory. An Initial with a valid token that a cap refuses (its source
holds too many connections, or too many handshakes are in progress in all) is
answered with a stateless CONNECTION_CLOSE, again without any state.

asyncio's datagram transport reads one datagram per loop turn, and aioquic answers
each one at once: a busy host then built and sent a packet per connection per
datagram received. The server reads what else is already queued on its socket in
the same turn (a bounded batch), and connections send once the batch is done, so
the answers to several datagrams share packets, acknowledgements and timers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from aioquic._buffer import Buffer
from aioquic.asyncio.server import QuicServer
from aioquic.quic.configuration import SMALLEST_MAX_DATAGRAM_SIZE, QuicConfiguration
from aioquic.quic.connection import TRANSPORT_CLOSE_FRAME_CAPACITY
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import (
    QuicErrorCode,
    QuicFrameType,
    QuicHeader,
    QuicPacketType,
    pull_quic_header,
)
from aioquic.quic.packet_builder import QuicPacketBuilder

from severus_cli.core.limits.admission import PER_ADDRESS, HandshakeGate, refusal
from severus_cli.core.limits.sources import source_key
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.quic_common import drain


def encode_refusal(version: int, host_cid: bytes, peer_cid: bytes, reason: str) -> bytes:
    """A server Initial that closes the connection with CONNECTION_REFUSED and a reason.

    Its keys derive from the Destination Connection ID the client chose (``host_cid``),
    so it needs no connection state.
    """
    crypto = CryptoPair()
    crypto.setup_initial(cid=host_cid, is_client=False, version=version)
    builder = QuicPacketBuilder(
        host_cid=host_cid,
        is_client=False,
        max_datagram_size=SMALLEST_MAX_DATAGRAM_SIZE,
        peer_cid=peer_cid,
        version=version,
    )
    builder.start_packet(QuicPacketType.INITIAL, crypto)
    phrase = reason.encode()
    buf = builder.start_frame(
        QuicFrameType.TRANSPORT_CLOSE, capacity=TRANSPORT_CLOSE_FRAME_CAPACITY + len(phrase)
    )
    buf.push_uint_var(QuicErrorCode.CONNECTION_REFUSED)
    buf.push_uint_var(QuicFrameType.PADDING)
    buf.push_uint_var(len(phrase))
    buf.push_bytes(phrase)
    datagrams, _ = builder.flush()
    return datagrams[0]


class GuardedQuicServer(QuicServer):
    """aioquic's server, always with Retry, refusing over-cap connections statelessly."""

    def __init__(
        self,
        *,
        configuration: QuicConfiguration,
        create_protocol: Callable[..., Any],
        guard: ConnectionGuard,
        gate: HandshakeGate,
        retry: bool = True,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(configuration=configuration, create_protocol=create_protocol, retry=retry)
        self.guard = guard
        self.gate = gate
        self._sock = sock  # the listening socket, read directly for a batch
        self._draining = False

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        raw = data.encode() if isinstance(data, str) else data
        # A short-header packet (fixed bit set) belongs to an established connection:
        # route it by its Destination Connection ID, as aioquic would after parsing its
        # header; that is most of what a busy host receives.
        cid_end = 1 + self._configuration.connection_id_length
        if len(raw) > cid_end and raw[0] & 0xC0 == 0x40:
            connection = self._protocols.get(raw[1:cid_end])
            if connection is not None:
                connection.datagram_received(raw, addr)
        else:
            self._admit(raw, addr)
        if self._draining or self._sock is None or self._transport is None:
            return
        # Whoever reads the transport now (NatSocket diverts STUN) gets the batch too.
        reader: Any = self._transport.get_protocol()
        self._draining = True
        try:
            drain(self._sock.recvfrom, reader.datagram_received, reader.error_received)
        finally:
            self._draining = False

    def _admit(self, raw: bytes, addr: Any) -> None:
        """Any datagram but an established connection's short-header packets: refused
        statelessly if it would open an over-cap connection, else aioquic's to handle."""
        # Only a full-size long-header datagram can open a connection: anything else
        # (the traffic of existing connections) goes straight on.
        if len(raw) >= SMALLEST_MAX_DATAGRAM_SIZE and raw[0] & 0x80:
            source = source_key(str(addr[0]))
            per_address = self.guard.count(source)
            reason = refusal(self.gate, source, per_address, self.guard.max_per_ip)
            header = self._would_connect(raw, addr) if reason is not None else None
            if reason is not None and header is not None:
                if reason == PER_ADDRESS:
                    self.guard.refused += 1
                else:
                    self.gate.refused += 1
                assert header.version is not None and self._transport is not None
                refused = encode_refusal(
                    header.version, header.destination_cid, header.source_cid, reason
                )
                self._transport.sendto(refused, addr)
                return
        super().datagram_received(raw, addr)

    def _would_connect(self, data: bytes, addr: Any) -> QuicHeader | None:
        """The header of ``data`` if aioquic would create a connection for it: an Initial
        for no existing connection, full size, and (with Retry) carrying a valid token.
        Only asked while a cap is reached, so the token is rarely checked twice."""
        try:
            header = pull_quic_header(
                Buffer(data=data), host_cid_length=self._configuration.connection_id_length
            )
        except ValueError:
            return None
        if (
            header.packet_type != QuicPacketType.INITIAL
            or header.version not in self._configuration.supported_versions
            or header.destination_cid in self._protocols
            or len(data) < SMALLEST_MAX_DATAGRAM_SIZE
        ):
            return None
        if self._retry is not None:
            if not header.token:
                return None  # gets a Retry: no state either way
            try:
                self._retry.validate_token(
                    address=addr,
                    destination_cid=header.destination_cid,
                    token=header.token,
                    now=self._loop.time(),
                )
            except ValueError:
                return None  # aioquic answers INVALID_TOKEN
        return header


async def listen(
    bind: str,
    port: int,
    configuration: QuicConfiguration,
    create_protocol: Callable[..., Any],
    guard: ConnectionGuard,
    gate: HandshakeGate,
    retry: bool = True,
) -> GuardedQuicServer:
    """Listen on UDP ``bind``:``port`` (what aioquic's ``serve`` does, with our server)."""
    loop = asyncio.get_running_loop()
    sock = await bound_socket(bind, port)
    try:
        _, server = await loop.create_datagram_endpoint(
            lambda: GuardedQuicServer(
                configuration=configuration,
                create_protocol=create_protocol,
                guard=guard,
                gate=gate,
                retry=retry,
                sock=sock,
            ),
            sock=sock,
        )
    except BaseException:
        sock.close()
        raise
    return server


async def bound_socket(bind: str, port: int) -> socket.socket:
    """A non-blocking UDP socket on the first address of ``bind`` that binds, as
    ``create_datagram_endpoint(local_addr=...)`` would make it; but ours to read."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(bind, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    error: OSError = OSError(f"cannot resolve {bind}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.bind(address)
        except OSError as failed:
            sock.close()
            error = failed
            continue
        return sock
    raise error
