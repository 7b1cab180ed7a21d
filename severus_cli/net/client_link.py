"""The participant's end of a hop: a byte stream (any transport) plus a Noise session.

:func:`open_tcp` gives a TLS stream and the certificate hash; :meth:`ClientLink.
handshake` runs Noise over any such stream, pausing to let ``verify`` judge the host's
identity before anything about us is revealed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

from severus_cli.core.session import HopSession, Payload, PeerIdentity, Role
from severus_cli.errors import (
    ConnectionLost,
    HandshakeTimeout,
    HostUnreachable,
    JoinSecretRefused,
    RemoteProtocolError,
)
from severus_cli.net.tls import client_context, peer_cert_hash

READ_CHUNK = 65536

Closer = Callable[[], Awaitable[None]]
Verify = Callable[[bytes, bytes], None]
"""Called with (host static key, TLS certificate hash); raises TrustError to refuse."""


async def open_tcp(
    host: str, port: int, timeout: float = 10.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Connect with TCP + TLS 1.3; return the streams and the certificate's SHA-256."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=client_context(), server_hostname=""),
            timeout,
        )
    except TimeoutError:
        raise HostUnreachable(f"{host}:{port} did not answer within {timeout:g} s") from None
    except ssl.SSLError as error:
        raise HostUnreachable(f"TLS with {host}:{port} failed: {error.reason}") from None
    except OSError as error:
        raise HostUnreachable(f"cannot reach {host}:{port}: {error.strerror or error}") from None
    try:
        cert_hash = peer_cert_hash(writer.get_extra_info("ssl_object"))
    except ssl.SSLError as error:
        writer.close()
        raise HostUnreachable(str(error)) from None
    return reader, writer, cert_hash


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
        psk: bytes | None = None,
    ) -> ClientLink:
        """Run the Noise handshake as initiator; ``verify`` may refuse the host.

        ``psk`` is the join secret's key (:func:`~severus_cli.core.session.join_psk`).
        """
        session = HopSession(Role.INITIATOR, static_private, cert_hash, psk=psk)
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
            verify(identity.static_key, cert_hash)
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
            raise ConnectionLost("the host closed the connection")
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
                with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):  # closer does
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
