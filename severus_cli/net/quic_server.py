"""The host's QUIC listener: aioquic's server with address validation and caps.

Every Initial without a token is answered with a stateless Retry (RFC 9000 section
8.1), so a connection, and the state and per-address slot that come with it, exist
only for a source that proved it receives packets at its address: a spoofed source
never gets past the Retry, and a flood of Initials costs the host one small answer
each and no memory. An Initial with a valid token that a cap refuses (its source
holds too many connections, or too many handshakes are in progress in all) is
answered with a stateless CONNECTION_CLOSE, again without any state.
"""

from __future__ import annotations

import asyncio
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
from severus_cli.net.guard import ConnectionGuard


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
    ) -> None:
        super().__init__(configuration=configuration, create_protocol=create_protocol, retry=retry)
        self.guard = guard
        self.gate = gate

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        raw = data.encode() if isinstance(data, str) else data
        # Only a full-size long-header datagram can open a connection: anything else
        # (the traffic of existing connections) goes straight on.
        if len(raw) >= SMALLEST_MAX_DATAGRAM_SIZE and raw[0] & 0x80:
            per_address = self.guard.count(str(addr[0]))
            reason = refusal(self.gate, per_address, self.guard.max_per_ip)
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
    _, server = await loop.create_datagram_endpoint(
        lambda: GuardedQuicServer(
            configuration=configuration,
            create_protocol=create_protocol,
            guard=guard,
            gate=gate,
            retry=retry,
        ),
        local_addr=(bind, port),
    )
    return server
