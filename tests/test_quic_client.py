"""The QUIC joiner's additions to aioquic, in process on both event loops: a port with
nothing listening fails at once, closing delivers what was written first, the aioquic
state read for that is where we expect it, and aioquic's log lines go nowhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from pathlib import Path

import pytest

from severus_cli.core.host.actions import HostConfig
from severus_cli.core.host.core import HostCore
from severus_cli.core.trust.identity import Identity, create_identity, tls_paths
from severus_cli.net.client_link import PortClosed
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.quic import open_quic, serve_quic
from severus_cli.net.quic_common import stream_delivered
from tests.event_loops import LOOPS, run_on

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("loop", LOOPS)]

REFUSED_WITHIN = 3.0  # the kernel answers at once; the connect timeout is far longer


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Identity, Path, Path]:
    directory = tmp_path_factory.mktemp("host")
    made = create_identity(directory)
    cert, key = tls_paths(directory)
    return made, cert, key


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_port_with_nothing_listening_fails_at_once(loop: str) -> None:
    async def main() -> None:
        port = closed_udp_port()
        start = time.monotonic()
        with pytest.raises(PortClosed) as refused:
            await open_quic("127.0.0.1", port, timeout=30)
        assert time.monotonic() - start < REFUSED_WITHIN
        assert refused.value.transport == "quic"
        assert f"nothing listens on UDP port {port}" in refused.value.message

    run_on(loop, main())


def test_close_waits_until_the_host_has_the_end_of_the_stream(
    loop: str, identity: tuple[Identity, Path, Path]
) -> None:
    ident, cert, key = identity

    async def main() -> None:
        core = HostCore(HostConfig(), time.time())
        host = HostLoop(core, ident.static_private, ident.cert_hash, log=lambda _: None)
        server = await serve_quic(host, cert, key, "127.0.0.1", 0)
        port = server._transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
        try:
            _, writer, client = await open_quic("127.0.0.1", port, timeout=10)
            protocol = client.protocol
            assert protocol.stream_id is not None
            writer.write(b"x" * 3000)
            writer.close()  # FIN
            assert not stream_delivered(protocol._quic, protocol.stream_id)
            await client.close()
            assert protocol.delivered.is_set()
            assert stream_delivered(protocol._quic, protocol.stream_id)
        finally:
            with contextlib.suppress(Exception):
                server.close()

    run_on(loop, main())


def test_library_log_lines_go_nowhere(loop: str, capfd: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        logging.getLogger("quic").warning("Error: 10, reason: Packet contains no CRYPTO frame")
        logging.getLogger("quic").error("Could not find a common protocol version")
        await asyncio.sleep(0)

    run_on(loop, main())
    captured = capfd.readouterr()
    assert "CRYPTO" not in captured.err + captured.out
    assert "protocol version" not in captured.err + captured.out
