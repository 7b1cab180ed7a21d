"""The participant's end of a hop: a byte stream (any transport) plus a Noise session.

:func:`open_tcp` gives a TLS stream, the certificate hash and the channel binding;
:meth:`ClientLink.handshake` runs Noise over any such stream. ``verify`` judges the
certificate before any Noise message (the first one depends on the join secret), then
the host's identity key before anything about us is revealed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

from severus_cli.core.wire.session import HopSession, Payload, PeerIdentity, Role, join_psk
from severus_cli.errors import (
    ConnectionLost,
    HandshakeTimeout,
    HostUnreachable,
    JoinSecretRefused,
    RemoteProtocolError,
)
from severus_cli.net.tls import channel_binding, client_context, peer_cert_hash

READ_CHUNK = 65536

Closer = Callable[[], Awaitable[None]]
WENT_AWAY = "the host went away (its connection closed)"


class PortClosed(HostUnreachable):
    """Nothing listens on the host's port for this transport (the host's machine
    refused): perhaps the host runs the other transport, which a hint can say."""

    def __init__(self, message: str, transport: str) -> None:
        super().__init__(message)
        self.transport = transport  # "tcp" or "quic": what was refused


class Verify(Protocol):
    """How a joiner judges a host; each check raises TrustError to refuse."""

    @property
    def secret(self) -> bytes | None:
        """The host's join secret, if it has one."""

    def certificate(self, cert_hash: bytes) -> None:
        """Before any Noise message: the TLS certificate the host presented."""

    def identity(self, key: bytes, cert_hash: bytes) -> None:
        """After the host proved ``key``, before anything about us is sent."""


async def open_tcp(
    host: str, port: int, timeout: float = 10.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes]:
    """Connect with TCP + TLS 1.3; return the streams, the certificate's SHA-256 and
    the connection's channel binding."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=client_context(), server_hostname=""),
            timeout,
        )
    except TimeoutError:
        raise HostUnreachable(f"{host}:{port} did not answer within {timeout:g} s") from None
    except ssl.SSLError as error:
        raise HostUnreachable(f"TLS with {host}:{port} failed: {error.reason}") from None
    except ConnectionRefusedError:
        raise PortClosed(
            f"cannot reach {host}:{port}: nothing listens on TCP port {port}", "tcp"
        ) from None
    except OSError as error:
        raise HostUnreachable(f"cannot reach {host}:{port}: {error.strerror or error}") from None
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        cert_hash = peer_cert_hash(ssl_object)
        binding = channel_binding(ssl_object)
    except ssl.SSLError as error:
        writer.close()
        raise HostUnreachable(str(error)) from None
    return reader, writer, cert_hash, binding


class ClientLink:
    """An established hop session over a stream."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: HopSession,
        on_close: Closer | None = None,
        path: str = "direct",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._session = session
        self._on_close = on_close
        self.host_key = session.peer_key or b""
        self.path = path  # how we reach the host: "direct", "quic", ...

    @classmethod
    async def handshake(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cert_hash: bytes,
        static_private: bytes,
        verify: Verify,
        timeout: float = 10.0,
        on_close: Closer | None = None,
        path: str = "direct",
        binding: bytes = b"",
    ) -> ClientLink:
        """Run the Noise handshake as initiator; ``verify`` may refuse the host.

        ``binding`` is the TLS connection's channel binding, which the handshake binds.
        """
        try:
            verify.certificate(cert_hash)
            psk = None
            if verify.secret is not None:  # scrypt: off the event loop
                psk = await asyncio.to_thread(join_psk, verify.secret, cert_hash)
        except BaseException:
            writer.close()
            raise
        session = HopSession(Role.INITIATOR, static_private, cert_hash, psk=psk, binding=binding)
        writer.write(session.data_to_send())
        try:
            async with asyncio.timeout(timeout):
                identity = await _await_identity(reader, session)
        except TimeoutError:
            writer.close()
            raise HandshakeTimeout(
                f"the host did not finish the handshake in {timeout:g} s"
            ) from None
        except BaseException:
            writer.close()
            raise
        try:
            verify.identity(identity.static_key, cert_hash)
        except BaseException:
            writer.close()
            raise
        session.proceed()
        writer.write(session.data_to_send())
        return cls(reader, writer, session, on_close, path)

    async def receive(self) -> list[bytes]:
        """Wait for data; return the packets it completed (possibly none)."""
        try:
            data = await self._reader.read(READ_CHUNK)
        except (OSError, ssl.SSLError) as error:
            raise ConnectionLost(f"the connection to the host broke: {error}") from None
        if not data:
            # A host that ends a session says why first (an ``err`` packet): an end
            # without a word means the host process itself is gone.
            raise ConnectionLost(WENT_AWAY)
        return [e.data for e in self._session.receive_data(data) if isinstance(e, Payload)]

    def send(self, payloads: list[bytes]) -> None:
        """Encrypt and write packets in one write."""
        if payloads and not self._writer.is_closing():
            self._writer.write(b"".join(self._session.seal(data) for data in payloads))

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (OSError, ssl.SSLError) as error:
            raise ConnectionLost(f"the connection to the host broke: {error}") from None

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
            if self._on_close is None:  # QUIC stream writers never report closed; their
                # closer does. TypeError: Python 3.11's TLS shutdown breaks on data that
                # came after the peer's close_notify (a relay closing a stale session).
                with contextlib.suppress(OSError, ssl.SSLError, TimeoutError, TypeError):
                    await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        self._reader.feed_eof()  # wake a pending receive()
        closer, self._on_close = self._on_close, None
        if closer is not None:
            await closer()


async def _await_identity(reader: asyncio.StreamReader, session: HopSession) -> PeerIdentity:
    while True:
        data = await reader.read(READ_CHUNK)
        if not data:
            # A host closes right after our first message only when its Noise check of
            # that message failed: the join secret (the PSK mixed into it) differs.
            raise JoinSecretRefused()
        for event in session.receive_data(data):
            if isinstance(event, PeerIdentity):
                return event
            raise RemoteProtocolError("unexpected data during the handshake", "bad_handshake")
