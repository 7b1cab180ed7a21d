"""QUIC transport (aioquic): the same hop session on one bidirectional stream.

The host side (here) turns each QUIC connection into a :class:`~severus_cli.net.
host_loop.Link` for the one host loop; the client side (:mod:`severus_cli.net.
quic_client`, re-exported here) yields an asyncio stream pair, exactly what TCP+TLS
gives, so :class:`ClientLink` runs unchanged on top.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, cast

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicErrorCode

from severus_cli.core.host.actions import MAX_BACKLOG
from severus_cli.core.limits.admission import HandshakeGate
from severus_cli.core.limits.sources import source_key
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.quic_client import QuicClient as QuicClient
from severus_cli.net.quic_client import hop_over_quic as hop_over_quic
from severus_cli.net.quic_client import open_quic as open_quic
from severus_cli.net.quic_common import CLOSE_GRACE, IDLE_TIMEOUT
from severus_cli.net.quic_common import quic_channel_binding as quic_channel_binding
from severus_cli.net.quic_common import unacked_bytes as unacked_bytes
from severus_cli.net.quic_server import GuardedQuicServer, listen
from severus_cli.net.tls import ALPN


class QuicHostProtocol(QuicConnectionProtocol):
    """One QUIC connection to the host: its first client stream is the hop session.

    The server creates it only for a validated source (Retry) and under the caps
    (:mod:`severus_cli.net.quic_server`), so its first datagram takes a per-address slot
    and a place among the handshakes in progress; it gives the latter back when the
    hop session starts, and both when it ends.
    """

    def __init__(
        self,
        *args: Any,
        host_loop: HostLoop,
        guard: ConnectionGuard | None = None,
        gate: HandshakeGate | None = None,
        max_backlog: int = MAX_BACKLOG,
        handshake_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._host = host_loop
        self._guard = guard or ConnectionGuard(0)
        self._gate = gate or HandshakeGate(0)
        self._handshaking = False  # counted in the gate
        self._source = ""  # the unit the gate counts it under (address or /64)
        self._max_backlog = max_backlog
        self._handshake_timeout = handshake_timeout
        self._slot: str | None = None
        self._counted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._arrived = 0.0  # loop time of the first packet
        self._stream: int | None = None
        self._conn = 0
        self._ended = False
        self._queued: list[bytes] = []  # written this turn, not yet given to the stream
        self.peer = "?"

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        """Every datagram of this connection; the first one counts it in the caps."""
        if self._counted:
            # Answer once the server's batch of datagrams is done (aioquic would build
            # and send packets for this one datagram right now).
            self._quic.receive_datagram(cast(bytes, data), addr, now=self._loop.time())
            self._process_events()
            self._transmit_soon()
            return
        self._counted = True  # the connection's first packet: count it, or refuse it
        self._arrived = self._loop.time()
        self._source = source_key(str(addr[0]))
        self._gate.enter(self._source)
        self._handshaking = True
        self._slot = self._guard.acquire(str(addr[0]))
        if self._slot is None:
            # (The server refuses over-cap sources before a connection exists; this is a
            # fallback.) Read the Initial (for its keys) but answer only with
            # CONNECTION_CLOSE, so the client's handshake fails instead of completing.
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
                self._handshake_over()
                address = self._quic._network_paths[0].addr if self._quic._network_paths else None
                self.peer = f"quic {address[0]}:{address[1]}" if address else "quic ?"
                self._conn = self._host.open(
                    self,
                    self._loop.time() - self._arrived,
                    binding=quic_channel_binding(self._quic),
                    source=self._slot,
                )
            if event.stream_id != self._stream:
                return  # one stream per connection; others are ignored
            if event.data:
                self._host.feed(self._conn, event.data)
            if event.end_stream:
                self._end("disconnected")
        elif isinstance(event, events.ConnectionTerminated):
            # A joiner that closes with NO_ERROR left on purpose (``/quit`` whose ``bye``
            # did not make it, a finished ``send``): a leave, as a TCP FIN is.
            clean = event.error_code == QuicErrorCode.NO_ERROR
            self._end("disconnected" if clean else "connection lost")
            self._handshake_over()
            if self._deadline is not None:
                self._deadline.cancel()
            if self._slot is not None:
                self._guard.release(self._slot)
                self._slot = None

    def _handshake_over(self) -> None:
        if self._handshaking:
            self._handshaking = False
            self._gate.leave(self._source)

    def _end(self, reason: str) -> None:
        if not self._ended and self._stream is not None:
            self._ended = True
            self._host.lost(self._conn, reason)

    def write(self, data: bytes) -> None:
        """Queue ``data``: the writes of one loop turn go to the stream together, as one
        stream write and one backlog check, when the connection next transmits."""
        if self._stream is not None and not self._ended:
            if not self._queued:
                self._transmit_soon()
            self._queued.append(data)

    def transmit(self) -> None:
        if self._queued:
            self._send_queued()
        super().transmit()

    def _send_queued(self) -> None:
        data = b"".join(self._queued)
        self._queued.clear()
        if self._stream is None or self._ended:
            return
        self._quic.send_stream_data(self._stream, data)
        if unacked_bytes(self._quic, self._stream) > self._max_backlog:
            self._end("too slow to keep up")
            self._quic.close(error_code=QuicErrorCode.NO_ERROR, reason_phrase="too slow to keep up")

    def close(self, error_code: int = 0, reason_phrase: str = "") -> None:
        """Finish the stream now and the connection a moment later, so the peer reads
        what was queued (such as a final error) before the connection goes."""
        if self._queued:
            self._send_queued()
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
    *,
    max_handshakes: int | None = None,
    retry: bool = True,
) -> GuardedQuicServer:
    """Listen for QUIC connections on UDP ``port``; each one joins ``host_loop``.

    Sources are validated by Retry first (``retry=False`` only for measuring what that
    costs); ``max_handshakes`` caps connections not yet carrying a hop session."""
    config = host_loop.core.config
    shared = guard or ConnectionGuard(0)
    gate = HandshakeGate() if max_handshakes is None else HandshakeGate(max_handshakes)
    configuration = QuicConfiguration(
        is_client=False, alpn_protocols=[ALPN], idle_timeout=IDLE_TIMEOUT
    )
    configuration.load_cert_chain(str(cert_file), str(key_file))

    def create_protocol(*args: Any, **kwargs: Any) -> QuicHostProtocol:
        return QuicHostProtocol(
            *args,
            host_loop=host_loop,
            guard=shared,
            gate=gate,
            max_backlog=config.max_backlog,
            handshake_timeout=config.handshake_timeout,
            **kwargs,
        )

    return await listen(bind or "::", port, configuration, create_protocol, shared, gate, retry)
