"""QUIC admission: the global cap on handshakes in progress (pure, then on a real
socket), and the stateless CONNECTION_CLOSE a refused client reads."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.packet import QuicErrorCode

from severus_cli.core.host.actions import HostConfig
from severus_cli.core.host.core import HostCore
from severus_cli.core.limits.admission import HandshakeGate, refusal
from severus_cli.core.trust.identity import Identity, create_identity, tls_paths
from severus_cli.errors import HostUnreachable
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.quic import open_quic, serve_quic
from severus_cli.net.quic_server import encode_refusal
from severus_cli.net.tls import ALPN
from tests.event_loops import LOOPS, run_on

pytestmark = [pytest.mark.timeout(60)]


def test_the_gate_counts_handshakes_and_refuses_past_its_limit() -> None:
    gate = HandshakeGate(2)
    assert refusal(gate, 0, 16) is None
    gate.enter()
    gate.enter()
    assert refusal(gate, 0, 16) == "too many connections are being set up; try again"
    gate.leave()
    assert refusal(gate, 0, 16) is None
    assert refusal(gate, 16, 16) == "too many connections from your address"
    assert refusal(gate, 16, 0) is None  # 0: no per-address cap
    unlimited = HandshakeGate(0)
    for _ in range(1000):
        unlimited.enter()
    assert not unlimited.full


def test_a_refused_client_reads_the_reason() -> None:
    """The stateless close decrypts with the keys the client derives itself."""
    client = QuicConnection(configuration=QuicConfiguration(is_client=True, alpn_protocols=[ALPN]))
    client.connect(("127.0.0.1", 4433), now=time.time())
    first = client.datagrams_to_send(now=time.time())[0][0]
    dcid = first[6 : 6 + first[5]]  # long header: flags, version(4), dcid length, dcid
    refusal_packet = encode_refusal(1, dcid, client.host_cid, "too busy")
    client.receive_datagram(refusal_packet, ("127.0.0.1", 4433), now=time.time())
    event = client._close_event
    assert event is not None
    assert event.error_code == QuicErrorCode.CONNECTION_REFUSED
    assert event.reason_phrase == "too busy"


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Identity, Path, Path]:
    directory = tmp_path_factory.mktemp("host")
    made = create_identity(directory)
    cert, key = tls_paths(directory)
    return made, cert, key


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def idle_client(port: int) -> tuple[QuicConnectionProtocol, asyncio.BaseTransport]:
    """A QUIC connection that completes its handshake (through Retry) and then opens
    no stream: a handshake the host must count until it times out."""
    config = QuicConfiguration(
        is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE, server_name="severus"
    )
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicConnectionProtocol(QuicConnection(configuration=config)),
        local_addr=("127.0.0.1", 0),
    )
    protocol.connect(("127.0.0.1", port))
    await asyncio.wait_for(protocol.wait_connected(), 5)
    return protocol, transport


@pytest.mark.parametrize("loop", LOOPS)
def test_handshakes_in_progress_are_capped_in_all(
    loop: str, identity: tuple[Identity, Path, Path]
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        core = HostCore(HostConfig(handshake_timeout=1.0), time.time())
        host = HostLoop(core, ident.static_private, ident.cert_hash, log=lambda _: None)
        server = await serve_quic(host, cert, key, "127.0.0.1", 0, max_handshakes=2)
        gate = server.gate
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        idle = [await idle_client(port) for _ in range(2)]
        try:
            assert gate.in_progress == 2
            with pytest.raises(HostUnreachable):
                await open_quic("127.0.0.1", port, timeout=3)
            assert gate.refused >= 1
            # The handshake timeout closes the idle ones; their places come back.
            await eventually(lambda: gate.in_progress == 0, within=8)
            _, _, client = await open_quic("127.0.0.1", port, timeout=3)
            assert gate.in_progress == 1  # up, no hop session yet
            await client.close()
            await eventually(lambda: gate.in_progress == 0)
        finally:
            for protocol, transport in idle:
                protocol.close()
                transport.close()
            with contextlib.suppress(Exception):
                server.close()

    run_on(loop, main())
