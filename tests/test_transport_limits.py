"""Transport limits in process: the per-address cap before TLS (TCP) and at the first
packet (QUIC), handshake deadlines, and a QUIC peer that stops taking data."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from severus_cli.core.host.core import UNLIMITED_RATE, HostConfig, HostCore
from severus_cli.core.trust.identity import Identity, create_identity, tls_paths
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.session import HopSession, Payload, PeerIdentity, Role
from severus_cli.errors import HostUnreachable
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.quic import open_quic, quic_channel_binding, serve_quic, unacked_bytes
from severus_cli.net.tcp import serve_tcp
from severus_cli.net.tls import ALPN, client_context, server_context
from tests.event_loops import LOOPS, run_on

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("loop", LOOPS)]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Identity, Path, Path]:
    directory = tmp_path_factory.mktemp("host")
    made = create_identity(directory)
    cert, key = tls_paths(directory)
    return made, cert, key


def new_host(identity: Identity, logs: list[str], **config: object) -> HostLoop:
    core = HostCore(HostConfig(**config), time.time())  # type: ignore[arg-type]
    return HostLoop(core, identity.static_private, identity.cert_hash, log=logs.append)


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    """Wait until ``check()`` holds. It returns as soon as it does; ``within`` only
    bounds a failure, so it is generous for a machine busy with other work."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# --- TCP ---------------------------------------------------------------------------------


async def tls_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=client_context(), server_hostname=""), 20
    )


def test_tcp_cap_refuses_before_tls_and_frees_slots(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        host = new_host(ident, [], handshake_timeout=30.0)
        guard = ConnectionGuard(3)
        server = await serve_tcp(host, server_context(cert, key), "127.0.0.1", 0, 30.0, guard)
        port = server.sockets[0].getsockname()[1]
        try:
            silent = socket.create_connection(("127.0.0.1", port))  # slowloris: says nothing
            first = await tls_connect(port)
            second = await tls_connect(port)
            await eventually(lambda: guard.count("127.0.0.1") == 3)
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                await tls_connect(port)  # the fourth: cut off before any TLS
            assert guard.refused >= 1
            assert host.connection_count == 2
            silent.close()
            first[1].close()
            await eventually(lambda: guard.count("127.0.0.1") == 1)
            await eventually(lambda: host.connection_count == 1)
            third = await tls_connect(port)
            await eventually(lambda: host.connection_count == 2)
            for _, writer in (second, third):
                writer.close()
            await eventually(lambda: guard.count("127.0.0.1") == 0)
        finally:
            server.close()

    run_on(loop, main())


def test_tcp_tls_deadline_and_garbage_release_the_slot(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        host = new_host(ident, [])
        guard = ConnectionGuard(2)
        server = await serve_tcp(host, server_context(cert, key), "127.0.0.1", 0, 0.5, guard)
        port = server.sockets[0].getsockname()[1]
        try:
            silent = socket.create_connection(("127.0.0.1", port))
            garbage = socket.create_connection(("127.0.0.1", port))
            garbage.sendall(b"GET / HTTP/1.1\r\n\r\n" * 50)
            await eventually(lambda: guard.count("127.0.0.1") == 0)
            silent.settimeout(20)
            assert await asyncio.to_thread(silent.recv, 10) == b""  # the host hung up on it
            silent.close()
            garbage.close()
            assert host.connection_count == 0
        finally:
            server.close()

    run_on(loop, main())


def test_tls_time_counts_against_the_handshake_timeout(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    """TLS, Noise and hello share one deadline from the TCP accept, not one each.

    One shared deadline closes the connection ``handshake`` seconds after the accept;
    one per stage would close it no sooner than ``dawdle + handshake``. The bound sits
    between the two, leaving a busy machine ``dawdle - 0.2`` s of slack (and TLS as long
    to finish before the deadline)."""
    ident, cert, key = identity
    handshake, dawdle = 3.0, 1.5

    async def main() -> None:
        host = new_host(ident, [], handshake_timeout=handshake)
        server = await serve_tcp(host, server_context(cert, key), "127.0.0.1", 0, handshake)
        port = server.sockets[0].getsockname()[1]
        timers = asyncio.create_task(host.run_timers(0.02))
        try:
            started = time.monotonic()
            sock = socket.create_connection(("127.0.0.1", port))
            await asyncio.sleep(dawdle)  # dawdle before even starting TLS
            wrap = client_context().wrap_socket
            tls = await asyncio.to_thread(wrap, sock, server_hostname=None)
            await eventually(lambda: host.connection_count == 1)
            tls.settimeout(20)
            assert await asyncio.to_thread(tls.recv, 10) == b""
            closed = time.monotonic() - started
            assert handshake - 0.1 <= closed < handshake + dawdle - 0.2, closed
            tls.close()
        finally:
            timers.cancel()
            server.close()

    run_on(loop, main())


# --- QUIC --------------------------------------------------------------------------------


class Client:
    """A QUIC participant whose receive window can be frozen, like a peer that stops
    reading: the host may then send it no more than the window it last advertised."""

    def __init__(self, protocol: QuicConnectionProtocol, transport: asyncio.BaseTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.session: HopSession | None = None

    @classmethod
    async def connect(cls, port: int, window: int = 1 << 20) -> Client:
        config = QuicConfiguration(
            is_client=True,
            alpn_protocols=[ALPN],
            verify_mode=ssl.CERT_NONE,
            server_name="severus",
            max_data=window,
            max_stream_data=window,
        )
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: QuicConnectionProtocol(QuicConnection(configuration=config)),
            local_addr=("127.0.0.1", 0),
        )
        client = cls(protocol, transport)
        protocol.connect(("127.0.0.1", port))
        await asyncio.wait_for(protocol.wait_connected(), 20)
        return client

    async def register(self, nick: str, static: bytes, cert_hash: bytes) -> None:
        self.reader, self.writer = await self.protocol.create_stream()
        binding = quic_channel_binding(self.protocol._quic)
        session = self.session = HopSession(Role.INITIATOR, static, cert_hash, binding=binding)
        self.writer.write(session.data_to_send())
        while not any(isinstance(e, PeerIdentity) for e in await self._events()):
            pass
        session.proceed()
        self.writer.write(session.data_to_send())
        self.send(p.Hello(nick, "test", ()))
        while not any(isinstance(p.decode_from_host(d), p.Welcome) for d in await self.payloads()):
            pass

    async def _events(self) -> list[object]:
        assert self.reader is not None and self.session is not None
        data = await asyncio.wait_for(self.reader.read(65536), 20)
        assert data, "the host closed the stream"
        return list(self.session.receive_data(data))

    async def payloads(self) -> list[bytes]:
        return [e.data for e in await self._events() if isinstance(e, Payload)]

    def send(self, packet: p.Packet) -> None:
        assert self.writer is not None and self.session is not None
        self.writer.write(self.session.seal(p.encode(packet)))

    def stop_reading(self) -> None:
        """Never advertise more receive window (what a peer that stops reading does)."""
        quic = self.protocol._quic
        quic._write_connection_limits = lambda *args, **kwargs: None  # type: ignore[method-assign]
        quic._write_stream_limits = lambda *args, **kwargs: None  # type: ignore[method-assign]

    def close(self) -> None:
        self.protocol.close()
        self.transport.close()


def test_unacked_bytes_reads_what_aioquic_keeps(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    """The slow-consumer check reads aioquic internals: a change of shape fails here."""
    _, cert, key = identity

    async def main() -> None:
        seen: list[QuicConnectionProtocol] = []

        def create(*args: object, **kwargs: object) -> QuicConnectionProtocol:
            protocol = QuicConnectionProtocol(*args, **kwargs)  # type: ignore[arg-type]
            seen.append(protocol)
            return protocol

        from aioquic.asyncio.server import serve

        config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
        config.load_cert_chain(str(cert), str(key))
        kept: list[object] = []  # the server's stream writers, or they close the stream
        server = await serve(
            "127.0.0.1",
            0,
            configuration=config,
            create_protocol=create,
            stream_handler=lambda reader, writer: kept.append(writer),
        )
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        client = await Client.connect(port, window=16384)
        try:
            reader, writer = await client.protocol.create_stream()
            writer.write(b"hello")
            await eventually(lambda: bool(seen) and bool(seen[0]._quic._streams))
            quic = seen[0]._quic
            quic.send_stream_data(0, b"x" * 200_000)
            seen[0].transmit()
            assert unacked_bytes(quic, 0) > 150_000  # held back by the 16 KiB window
            assert unacked_bytes(quic, 99) == 0
            await reader.readexactly(16384)
        finally:
            client.close()
            server.close()

    run_on(loop, main())


def test_quic_peer_that_stops_reading_is_dropped(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        logs: list[str] = []
        # No rate limits: the peer asks for more than one sender's byte allowance, which
        # would otherwise keep its backlog under the bound.
        host = new_host(
            ident,
            logs,
            max_backlog=256 * 1024,
            rate_burst=UNLIMITED_RATE,
            rate_per_second=UNLIMITED_RATE,
        )
        server = await serve_quic(host, cert, key, "127.0.0.1", 0, ConnectionGuard(4))
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        slow = await Client.connect(port, window=32768)
        try:
            await slow.register("slow", b"\x01" * 32, ident.cert_hash)
            assert host.core.participant_count == 1
            slow.stop_reading()
            for n in range(1, 12):  # the host echoes each 60 KB blob back to its sender
                slow.send(p.Relay(n, "slow", "key", bytes(60000)))
            await eventually(lambda: host.core.participant_count == 0)
            assert any("too slow to keep up" in line for line in logs), logs
        finally:
            slow.close()
            server.close()

    run_on(loop, main())


def test_quic_cap_and_handshake_deadline(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        # The second connection must be refused while the first still holds the one
        # slot: a deadline of 2 s leaves a busy machine ample time to try it.
        host = new_host(ident, [], handshake_timeout=2.0)
        guard = ConnectionGuard(1)
        server = await serve_quic(host, cert, key, "127.0.0.1", 0, guard)
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        idle = await Client.connect(port)  # QUIC up, but no hop session: a slowloris
        try:
            assert guard.count("127.0.0.1") == 1
            with pytest.raises(HostUnreachable):
                await open_quic("127.0.0.1", port, timeout=3)
            await eventually(lambda: idle.protocol._quic._close_event is not None)
            await eventually(lambda: guard.count("127.0.0.1") == 0)
            _, _, client = await open_quic("127.0.0.1", port, timeout=20)
            await client.close()
        finally:
            idle.close()
            with contextlib.suppress(Exception):
                server.close()

    run_on(loop, main())


def test_quic_handshake_flood_leaves_nothing_behind(
    loop: str,
    identity: tuple[Identity, Path, Path],
) -> None:
    """Hundreds of QUIC Initials from one address that never finish their handshake:
    each gets a stateless Retry, so none becomes a connection or takes a slot."""
    ident, cert, key = identity

    async def main() -> None:
        host = new_host(ident, [], handshake_timeout=0.5)
        guard = ConnectionGuard(4)
        server = await serve_quic(host, cert, key, "127.0.0.1", 0, guard)
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.setblocking(False)
        try:
            config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN])
            for _ in range(300):
                quic = QuicConnection(configuration=config)
                quic.connect(("127.0.0.1", port), now=time.time())
                for datagram, address in quic.datagrams_to_send(now=time.time()):
                    flood.sendto(datagram, address)
                await asyncio.sleep(0.001)
            retries = 0

            def answered() -> bool:
                nonlocal retries
                with contextlib.suppress(BlockingIOError):
                    while True:
                        retries += (flood.recv(2048)[0] & 0xF0) == 0xF0  # a Retry
                return retries >= 250

            await eventually(answered)
            assert not server._protocols
            assert guard.count("127.0.0.1") == 0 and guard.refused == 0
            assert host.connection_count == 0
        finally:
            flood.close()
            server.close()

    run_on(loop, main())
