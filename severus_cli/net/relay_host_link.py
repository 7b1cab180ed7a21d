"""The host's end of a relayed connection: out to the relay, in to the host loop.

The host dials the relay (TLS + Noise, as on its control channel), answers the
relay's ``open`` with ``accept``, and once ``spliced`` arrives, acts as the TLS
*server* for the participant at the far end of the pipe, then hands the connection
to the one :class:`HostLoop` like any TCP client. The inner TLS is the same memory-BIO
TLS as direct connections (:class:`TlsConnection`): bytes that arrive in the same read
as ``spliced`` are the participant's ClientHello and are fed straight in, with no window
in which they could be lost.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import cast

from severus_cli.core.limits.registrations import RELAYED
from severus_cli.core.nat.relay_link import RelayLink
from severus_cli.core.nat.relay_packets import Accept, RelayError, Spliced
from severus_cli.errors import SeverusError
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.tls import channel_binding, peer_cert_hash
from severus_cli.net.tls_bio import TlsConnection

MAX_BACKLOG = 1 << 20  # unsent bytes before a participant that stopped reading is cut off


class RelayedHostConnection(asyncio.Protocol):
    """A data connection to the relay that becomes one participant's link."""

    def __init__(
        self,
        host_loop: HostLoop,
        server_context: ssl.SSLContext,
        static_private: bytes,
        token: bytes,
        label: str,
        handshake_timeout: float = 10.0,
    ) -> None:
        self._host = host_loop
        self._server_context = server_context
        self._static = static_private
        self._token = token
        self._timeout = handshake_timeout
        self._transport: asyncio.Transport | None = None
        self._link: RelayLink | None = None
        self._tls: TlsConnection | None = None
        self._conn: int | None = None
        self._ended = False
        self.peer = f"relayed {label}"
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not isinstance(): uvloop's transports do not derive from asyncio.Transport.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        try:
            ssl_object = transport.get_extra_info("ssl_object")
            cert_hash = peer_cert_hash(ssl_object)
            binding = channel_binding(ssl_object)
        except ssl.SSLError:
            transport.abort()
            return
        self._link = RelayLink(self._static, cert_hash, binding=binding)
        transport.write(self._link.data_to_send())
        asyncio.get_running_loop().call_later(self._timeout, self._deadline)

    def data_received(self, data: bytes) -> None:
        link = self._link
        if link is None or self._ended:
            return
        if link.spliced:
            if self._tls is not None:
                self._tls.data_received(data)
            return
        was_established = link.established
        try:
            packets = link.receive_data(data)
        except SeverusError:
            self.close()
            return
        if link.established and not was_established:
            link.send(Accept(self._token))
        self._write(link.data_to_send())
        for packet in packets:
            if isinstance(packet, RelayError):
                self.close()
                return
            if isinstance(packet, Spliced) and self._transport is not None:
                self._tls = TlsConnection(
                    self._transport, self._server_context, self._opened, self._plaintext
                )
                self._tls.data_received(link.leftover)
                return

    def _opened(self) -> None:
        binding = self._tls.binding if self._tls is not None else b""
        self._conn = self._host.open(self, binding=binding, source=RELAYED)
        if not self.done.done():
            self.done.set_result(None)

    def _plaintext(self, data: bytes) -> None:
        if self._conn is not None and not self._ended:
            self._host.feed(self._conn, data)

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
            if transport.get_write_buffer_size() > MAX_BACKLOG:
                self.close()

    def _deadline(self) -> None:
        if self._conn is None:
            self.close()

    # --- Link, for the host loop --------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._tls is not None and not self._ended:
            self._tls.write(data)
            if self._tls.over(MAX_BACKLOG):
                self.close()

    def close(self) -> None:
        if self._tls is not None:
            self._tls.close()
        elif self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._ended:
            self._ended = True
            if self._conn is not None:
                self._host.lost(self._conn, "relayed connection lost")
            if not self.done.done():
                self.done.set_result(None)
