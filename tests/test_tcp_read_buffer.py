"""The direct transport reads into one buffer per event loop (asyncio.BufferedProtocol):
connections that send at once, in pieces of every size, each arrive whole and in order,
on asyncio's loop and on uvloop's."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from severus_cli.net.tcp import READ_BUFFER, TcpHostProtocol, read_buffer
from tests.event_loops import LOOPS, run_on

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("loop", LOOPS)]


class Recorder:
    """Stands in for the host loop: what each connection delivered, in order."""

    def __init__(self) -> None:
        self.received: dict[int, bytearray] = {}
        self.buffers: set[int] = set()

    def open(self, link: Any, waited: float = 0.0, binding: bytes = b"", source: str = "") -> int:
        conn = len(self.received) + 1
        self.received[conn] = bytearray()
        return conn

    def feed(self, conn: int, data: bytes) -> None:
        assert type(data) is bytes  # never a view of the shared buffer
        self.received[conn] += data

    def lost(self, conn: int, reason: str = "") -> None:
        pass


def test_connections_sending_at_once_arrive_whole(loop: str) -> None:
    payloads = [os.urandom(size) for size in (1, 700, 70_000, READ_BUFFER + 12_345)]

    async def main() -> None:
        host = Recorder()
        protocols: list[TcpHostProtocol] = []

        def made() -> TcpHostProtocol:
            protocol = TcpHostProtocol(host)  # no TLS: bytes as sent
            protocols.append(protocol)
            return protocol

        server = await asyncio.get_running_loop().create_server(made, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            writers = []
            for _ in payloads:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writers.append(writer)
            for round_ in range(3):  # interleaved: every connection's pieces in turn
                for writer, payload in zip(writers, payloads, strict=True):
                    step = len(payload) // 3 + 1
                    writer.write(payload[round_ * step : (round_ + 1) * step])
                await asyncio.gather(*(writer.drain() for writer in writers))
            expected = {index + 1: payload for index, payload in enumerate(payloads)}
            deadline = asyncio.get_running_loop().time() + 20
            while {conn: bytes(data) for conn, data in host.received.items()} != expected:
                assert asyncio.get_running_loop().time() < deadline, "not all delivered"
                await asyncio.sleep(0.01)
            for writer in writers:
                writer.close()
        finally:
            server.close()
        views = {id(protocol.get_buffer(-1).obj) for protocol in protocols}
        assert len(views) == 1  # one buffer for every connection of the loop
        assert all(isinstance(p, asyncio.BufferedProtocol) for p in protocols)
        assert read_buffer(asyncio.get_running_loop()).nbytes == READ_BUFFER

    run_on(loop, main())
