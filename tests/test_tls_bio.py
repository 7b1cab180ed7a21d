"""The host's memory-BIO TLS: what one loop turn writes arrives whole and in order,
however big the flush; the backlog bound; one flush callback per turn."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any

import pytest

from severus_cli.core.trust.identity import create_identity, tls_paths
from severus_cli.net import tls_bio
from severus_cli.net.tls import client_context, server_context
from severus_cli.net.tls_bio import WRITE_SLICE, TlsConnection

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    directory = tmp_path_factory.mktemp("tls")
    create_identity(directory)
    cert, key = tls_paths(directory)
    return server_context(cert, key)


class FakeTransport:
    """Collects what the connection sends; reports a buffer size the test sets."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.buffered = 0
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True


class Client:
    """The other end: an SSLObject over memory BIOs."""

    def __init__(self) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl = client_context().wrap_bio(self.incoming, self.outgoing)

    def pump(self, raw: FakeTransport, server: TlsConnection) -> None:
        """Run the handshake between the two ends."""
        for _ in range(10):
            with contextlib.suppress(ssl.SSLWantReadError):
                self.ssl.do_handshake()
            data = self.outgoing.read()
            if data:
                server.data_received(data)
            self.take(raw)
            if server.ready and self.ssl.version():
                return
        raise AssertionError("no handshake")

    def take(self, raw: FakeTransport) -> None:
        for chunk in raw.sent:
            self.incoming.write(chunk)
        raw.sent.clear()

    def read_all(self) -> bytes:
        received = b""
        while True:
            try:
                chunk = self.ssl.read(1 << 20)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                return received
            if not chunk:  # close_notify
                return received
            received += chunk


def connect(context: ssl.SSLContext) -> tuple[TlsConnection, FakeTransport, Client]:
    raw = FakeTransport()
    server = TlsConnection(raw, context, lambda: None, lambda data: None)  # type: ignore[arg-type]
    client = Client()
    client.pump(raw, server)
    return server, raw, client


@pytest.mark.parametrize("sizes", [[10], [WRITE_SLICE], [WRITE_SLICE + 1], [100, 70_000, 3]])
def test_one_turn_of_writes_arrives_whole_and_in_order(
    context: ssl.SSLContext, sizes: list[int]
) -> None:
    async def main() -> None:
        server, raw, client = connect(context)
        parts = [bytes([index + 1]) * size for index, size in enumerate(sizes)]
        for part in parts:
            server.write(part)
        assert raw.sent == []  # nothing leaves before the end of the turn
        await asyncio.sleep(0)
        assert len(raw.sent) == 1  # one batch, however many slices it was encrypted in
        client.take(raw)
        assert client.read_all() == b"".join(parts)

    asyncio.run(main())


def test_backlog_bound_reads_the_transport_again_near_the_limit(
    context: ssl.SSLContext,
) -> None:
    async def main() -> None:
        server, raw, _ = connect(context)
        server.write(b"x" * 100)
        assert not server.over(1000)
        raw.buffered = 5000  # the peer stopped reading: this flush stays in the transport
        await asyncio.sleep(0)
        assert server.over(1000)
        raw.buffered = 0  # it caught up: near the limit the transport is asked again
        assert not server.over(1000)

    asyncio.run(main())


def test_connections_written_in_one_turn_share_one_flush_callback(
    context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        connections = [connect(context) for _ in range(5)]
        loop = asyncio.get_running_loop()
        scheduled: list[Any] = []
        original = loop.call_soon

        def counting(callback: Any, *args: Any, **kwargs: Any) -> asyncio.Handle:
            scheduled.append(callback)
            return original(callback, *args, **kwargs)

        monkeypatch.setattr(loop, "call_soon", counting)
        for server, _, _ in connections:
            server.write(b"to everyone")
        assert len(scheduled) == 1
        await asyncio.sleep(0)
        for _, raw, client in connections:
            client.take(raw)
            assert client.read_all() == b"to everyone"
        assert tls_bio.turn_flusher(loop) is tls_bio.turn_flusher(loop)

    asyncio.run(main())


def test_nothing_is_written_before_the_handshake_or_after_close(
    context: ssl.SSLContext, tmp_path: Path
) -> None:
    async def main() -> None:
        raw = FakeTransport()
        server = TlsConnection(raw, context, lambda: None, lambda data: None)  # type: ignore[arg-type]
        server.write(b"too early")
        await asyncio.sleep(0)
        assert raw.sent == []
        server, raw, client = connect(context)
        server.close()
        server.write(b"too late")
        await asyncio.sleep(0)
        client.take(raw)
        assert client.read_all() == b""

    asyncio.run(main())


def connect_reader(
    context: ssl.SSLContext,
) -> tuple[TlsConnection, FakeTransport, Client, list[bytes]]:
    raw = FakeTransport()
    received: list[bytes] = []
    server = TlsConnection(raw, context, lambda: None, received.append)  # type: ignore[arg-type]
    client = Client()
    client.pump(raw, server)
    return server, raw, client, received


def records(client: Client, parts: list[bytes]) -> bytes:
    """What the client writes for ``parts``: one TLS record each."""
    out = b""
    for part in parts:
        client.ssl.write(part)
        out += client.outgoing.read()
    return out


@pytest.mark.parametrize("split", [None, 1, 7, 100])
def test_records_arrive_whole_however_the_bytes_are_cut(
    context: ssl.SSLContext, split: int | None
) -> None:
    """Several records in one read, one split across reads, byte by byte: all of it,
    in order; a partial record waits for the rest."""

    async def main() -> None:
        server, _, client, received = connect_reader(context)
        parts = [b"a" * 10, b"b" * 5000, b"c" * 20_000, b"d"]
        wire = records(client, parts)
        step = split or len(wire)
        for start in range(0, len(wire), step):
            server.data_received(wire[start : start + step])
        assert b"".join(received) == b"".join(parts)

    asyncio.run(main())


def test_a_whole_record_is_read_without_a_failed_read(context: ssl.SSLContext) -> None:
    """Once the input is used up the connection stops reading, instead of reading once
    more for the SSLWantReadError that making costs more than the record did."""

    async def main() -> None:
        server, _, client, received = connect_reader(context)
        tls = server._ssl
        failed: list[str] = []
        read = tls.read

        def counted(size: int = 1024, buffer: Any = None) -> Any:
            try:
                return read(size)
            except ssl.SSLWantReadError:
                failed.append("want read")
                raise

        tls.read = counted  # type: ignore[method-assign,assignment]
        server.data_received(records(client, [b"one", b"two"]))
        assert b"".join(received) == b"onetwo"
        assert failed == []
        wire = records(client, [b"three"])
        server.data_received(wire[:3])  # a partial record: that read has to fail
        assert failed == ["want read"]
        server.data_received(wire[3:])
        assert b"".join(received) == b"onetwothree"

    asyncio.run(main())


def test_data_then_close_notify_in_one_read(context: ssl.SSLContext) -> None:
    async def main() -> None:
        server, raw, client, received = connect_reader(context)
        client.ssl.write(b"last words")
        with contextlib.suppress(ssl.SSLWantReadError):
            client.ssl.unwrap()
        server.data_received(client.outgoing.read())
        assert b"".join(received) == b"last words"
        assert raw.aborted  # closed in turn

    asyncio.run(main())


def test_connections_are_flushed_in_the_order_first_written_to(context: ssl.SSLContext) -> None:
    """The host writes a room message's copies before the sender's ``ok``: this order is
    the order their ``send()`` calls happen in."""

    async def main() -> None:
        connections = [connect(context) for _ in range(3)]
        order: list[int] = []

        class Recording(FakeTransport):
            def __init__(self, index: int) -> None:
                super().__init__()
                self.index = index

            def write(self, data: bytes) -> None:
                order.append(self.index)

        for index, (server, _, _) in enumerate(connections):
            server._raw = Recording(index)  # type: ignore[assignment]
        for index in (2, 0, 2, 1, 0):
            connections[index][0].write(b"x")
        await asyncio.sleep(0)
        assert order == [2, 0, 1]

    asyncio.run(main())
