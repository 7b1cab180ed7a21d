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
from severus_cli.core.limits.admission import (
    BUSY,
    MAX_HANDSHAKES,
    PER_ADDRESS,
    SHARE,
    SOURCE_BUSY,
    HandshakeGate,
    refusal,
)
from severus_cli.core.limits.sources import source_key
from severus_cli.core.trust.identity import Identity, create_identity, tls_paths
from severus_cli.errors import HostUnreachable
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.quic import open_quic, serve_quic
from severus_cli.net.quic_server import encode_refusal
from severus_cli.net.tls import ALPN
from tests.event_loops import LOOPS, run_on

pytestmark = [pytest.mark.timeout(60)]


def test_the_gate_counts_handshakes_and_refuses_past_its_limit() -> None:
    gate = HandshakeGate(2, share=1)  # no share below the whole: only the global cap
    assert refusal(gate, "a", 0, 16) is None
    gate.enter("a")
    gate.enter("b")
    assert refusal(gate, "c", 0, 16) == BUSY
    gate.leave("a")
    assert refusal(gate, "c", 0, 16) is None
    assert refusal(gate, "c", 16, 16) == PER_ADDRESS
    assert refusal(gate, "c", 16, 0) is None  # 0: no per-address cap
    unlimited = HandshakeGate(0)
    for _ in range(1000):
        unlimited.enter("a")
    assert not unlimited.full
    assert refusal(unlimited, "a", 0, 0) is None  # no cap: no share either


def test_one_source_gets_a_share_of_the_handshakes_and_others_the_rest() -> None:
    gate = HandshakeGate()  # 64 places, 8 per source
    assert gate.per_source == MAX_HANDSHAKES // SHARE == 8
    attacker = source_key("2001:db8:1:2::1")
    for _ in range(8):
        assert refusal(gate, attacker, 0, 0) is None
        gate.enter(attacker)
    # Any address of the same /64 is the same source: refused with its own reason.
    assert refusal(gate, source_key("2001:db8:1:2:ffff::9"), 0, 0) == SOURCE_BUSY
    # Everyone else still gets in, until the places run out in all.
    others = [f"192.0.2.{n}" for n in range(1, 8)]
    for other in others:
        for _ in range(8):
            assert refusal(gate, other, 0, 0) is None
            gate.enter(other)
    assert gate.in_progress == 64
    assert refusal(gate, "198.51.100.1", 0, 0) == BUSY
    # A handshake that ends gives its place back to its own source.
    gate.leave(attacker)
    assert gate.held(attacker) == 7
    assert refusal(gate, attacker, 0, 0) is None
    for other in others:
        for _ in range(8):
            gate.leave(other)
    assert gate.held(others[0]) == 0 and gate.in_progress == 7


def test_a_small_cap_still_gives_each_source_one_place() -> None:
    gate = HandshakeGate(4)
    assert gate.per_source == 1
    gate.enter("a")
    assert refusal(gate, "a", 0, 0) == SOURCE_BUSY
    assert refusal(gate, "b", 0, 0) is None


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


async def idle_client(
    port: int, source: str = "127.0.0.1"
) -> tuple[QuicConnectionProtocol, asyncio.BaseTransport]:
    """A QUIC connection from ``source`` (any of 127.0.0.0/8 is this machine) that
    completes its handshake (through Retry) and then opens no stream: a handshake the
    host must count until it times out."""
    config = QuicConfiguration(
        is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE, server_name="severus"
    )
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicConnectionProtocol(QuicConnection(configuration=config)),
        local_addr=(source, 0),
    )
    protocol.connect(("127.0.0.1", port))
    try:
        await asyncio.wait_for(protocol.wait_connected(), 5)
    except BaseException:
        transport.close()
        raise
    return protocol, transport


async def refused_reason(port: int, source: str) -> str:
    """The reason the host gives when it refuses a connection from ``source``."""
    config = QuicConfiguration(
        is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE, server_name="severus"
    )
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: QuicConnectionProtocol(QuicConnection(configuration=config)),
        local_addr=(source, 0),
    )
    try:
        protocol.connect(("127.0.0.1", port))
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(protocol.wait_connected(), 5)
        event = protocol._quic._close_event
        assert event is not None and event.error_code == QuicErrorCode.CONNECTION_REFUSED
        return event.reason_phrase
    finally:
        transport.close()


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
        # From two sources: with a cap of 2, each source's share is one place.
        idle = [await idle_client(port, source) for source in ("127.0.0.2", "127.0.0.3")]
        try:
            assert gate.in_progress == 2
            assert await refused_reason(port, "127.0.0.1") == BUSY
            with pytest.raises(HostUnreachable):
                await open_quic("127.0.0.1", port, timeout=3)
            assert gate.refused >= 2
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


@pytest.mark.parametrize("loop", LOOPS)
def test_one_source_holds_only_its_share_of_the_handshakes(
    loop: str, identity: tuple[Identity, Path, Path]
) -> None:
    """A source that answers Retries, with the per-address cap lifted, still cannot take
    every place: past its share it is refused, and another address gets in."""
    ident, cert, key = identity

    async def main() -> None:
        core = HostCore(HostConfig(handshake_timeout=5.0), time.time())
        host = HostLoop(core, ident.static_private, ident.cert_hash, log=lambda _: None)
        server = await serve_quic(
            host, cert, key, "127.0.0.1", 0, ConnectionGuard(0), max_handshakes=16
        )
        gate = server.gate
        assert gate.per_source == 2
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        idle = [await idle_client(port, "127.0.0.2") for _ in range(2)]
        try:
            refused = await refused_reason(port, "127.0.0.2")
            assert refused == SOURCE_BUSY
            assert gate.in_progress == 2 and gate.refused == 1
            _, _, client = await open_quic("127.0.0.1", port, timeout=3)  # another source
            assert gate.in_progress == 3
            await client.close()
        finally:
            for protocol, transport in idle:
                protocol.close()
                transport.close()
            with contextlib.suppress(Exception):
                server.close()

    run_on(loop, main())
