"""Talking to a relay: its TLS contexts, and a control channel over asyncio streams.

A participant uses one :class:`RelayChannel` for everything: ask for punching, and if
that does not win in time, ``dial`` on the same connection, which the relay then
splices to the host; :func:`start_relayed_tls` turns it into the end-to-end TLS
stream the ordinary hop session runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from severus_cli.core.nat.relay_link import RelayLink
from severus_cli.core.nat.relay_packets import Dial, RelayError, Spliced
from severus_cli.core.wire.packets import Packet
from severus_cli.errors import (
    ConnectionLost,
    HostUnreachable,
    RemoteProtocolError,
    SeverusError,
)
from severus_cli.net.tls import channel_binding, client_context, peer_cert_hash

RELAY_ALPN = "severus-relay/3"
READ_CHUNK = 65536


class RelayRefused(HostUnreachable):
    """The relay refused the request."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"the relay refused: {message} ({code})")
        self.code = code


def relay_server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(str(cert_file), str(key_file))
    context.set_alpn_protocols([RELAY_ALPN])
    return context


def relay_client_context() -> ssl.SSLContext:
    context = client_context()
    context.set_alpn_protocols([RELAY_ALPN])
    return context


class RelayChannel:
    """An authenticated hop session with a relay, packet by packet."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: RelayLink
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.link = link
        self._inbox: list[Packet] = []

    @classmethod
    async def open(
        cls, host: str, port: int, static_private: bytes, timeout: float = 10.0
    ) -> RelayChannel:
        """TCP + TLS + Noise with the relay; HostUnreachable when that fails."""
        where = f"the relay {host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=relay_client_context(), server_hostname=""
                )
                try:
                    ssl_object = writer.get_extra_info("ssl_object")
                    link = RelayLink(
                        static_private,
                        peer_cert_hash(ssl_object),
                        binding=channel_binding(ssl_object),
                    )
                    writer.write(link.data_to_send())
                    while not link.established:
                        data = await reader.read(READ_CHUNK)
                        if not data:
                            raise ConnectionLost(f"{where} closed the connection")
                        if link.receive_data(data):
                            raise RemoteProtocolError("a packet during the handshake")
                        writer.write(link.data_to_send())
                except BaseException:
                    writer.close()
                    raise
        except TimeoutError:
            raise HostUnreachable(f"{where} did not answer within {timeout:g} s") from None
        except ssl.SSLError as error:
            raise HostUnreachable(f"TLS with {where} failed: {error.reason}") from None
        except OSError as error:
            raise HostUnreachable(f"cannot reach {where}: {error.strerror or error}") from None
        except SeverusError as error:
            raise HostUnreachable(f"{where}: {error.message}") from None
        return cls(reader, writer, link)

    def send(self, packet: Packet) -> None:
        if not self.writer.is_closing():
            self.link.send(packet)
            self.writer.write(self.link.data_to_send())

    async def receive(self) -> Packet:
        """The next packet; a fatal ``err`` raises RelayRefused, EOF ConnectionLost."""
        while not self._inbox:
            if self.link.spliced:
                raise ConnectionLost("the relay connection is spliced")
            try:
                data = await self.reader.read(READ_CHUNK)
            except (OSError, ssl.SSLError) as error:
                raise ConnectionLost(f"the relay connection broke: {error}") from None
            if not data:
                raise ConnectionLost("the relay closed the connection")
            self._inbox.extend(self.link.receive_data(data))
        packet = self._inbox.pop(0)
        if isinstance(packet, RelayError) and packet.fatal:
            raise RelayRefused(packet.code, packet.msg)
        return packet

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)


async def start_relayed_tls(
    channel: RelayChannel, host_key: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes, bytes]:
    """Dial ``host_key`` through the relay and run TLS with the host inside the pipe;
    return the streams, the host certificate's hash and the channel binding, as
    :func:`open_tcp` does."""
    channel.send(Dial(host_key))
    while True:
        packet = await channel.receive()
        if isinstance(packet, Spliced):
            break
        if isinstance(packet, RelayError):
            raise RelayRefused(packet.code, packet.msg)
    if channel.link.leftover:  # the host speaks only after our ClientHello
        raise RemoteProtocolError("bytes from the host before the TLS handshake")
    writer = channel.writer
    try:
        await writer.start_tls(client_context(), server_hostname="")
        ssl_object = writer.get_extra_info("ssl_object")
        cert_hash = peer_cert_hash(ssl_object)
        binding = channel_binding(ssl_object)
    except (ssl.SSLError, OSError) as error:
        writer.close()
        raise HostUnreachable(f"TLS with the host through the relay failed: {error}") from None
    return channel.reader, writer, cert_hash, binding
