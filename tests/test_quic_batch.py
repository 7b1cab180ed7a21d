"""Reading QUIC datagrams in a batch: what is queued is handed on in one turn (bounded),
errors reach the protocol as the transport would report them, and an established
connection's short-header packets are routed by connection ID without aioquic's
header parsing, while everything else still goes through the caps; and the host's
writes of one loop turn reach the stream as one, with one backlog check."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aioquic.quic.configuration import QuicConfiguration

from severus_cli.core.limits.admission import HandshakeGate
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.quic import QuicHostProtocol
from severus_cli.net.quic_common import drain
from severus_cli.net.quic_server import GuardedQuicServer
from severus_cli.net.tls import ALPN


def udp_pair() -> tuple[socket.socket, socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(receiver.getsockname())
    return receiver, sender


def test_drain_hands_on_what_is_queued_up_to_its_limit() -> None:
    receiver, sender = udp_pair()
    with receiver, sender:
        for n in range(5):
            sender.send(bytes([n]) * 10)
        got: list[bytes] = []
        errors: list[Exception] = []
        drain(receiver.recvfrom, lambda data, _: got.append(data), errors.append, limit=3)
        assert got == [bytes([n]) * 10 for n in range(3)]  # in order, no more than 3
        drain(receiver.recvfrom, lambda data, _: got.append(data), errors.append, limit=10)
        assert len(got) == 5 and not errors  # the rest; then the empty socket ends it
        drain(receiver.recvfrom, lambda data, _: got.append(data), errors.append)
        assert len(got) == 5 and not errors


def test_drain_reports_port_unreachable_like_the_transport() -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    address = closed.getsockname()
    closed.close()  # nothing listens there now
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.connect(address)
        sock.setblocking(False)
        sock.send(b"anyone?")  # answered by ICMP port unreachable
        errors: list[Exception] = []
        drain(sock.recvfrom, lambda *_: None, errors.append)
        assert len(errors) == 1 and isinstance(errors[0], ConnectionRefusedError)


class Recorder:
    """Stands in for one connection's protocol."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)


def test_short_header_packets_go_to_their_connection_by_id() -> None:
    async def main() -> None:
        configuration = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
        server = GuardedQuicServer(
            configuration=configuration,
            create_protocol=lambda *a, **k: None,
            guard=ConnectionGuard(0),
            gate=HandshakeGate(),
        )
        known, other = Recorder(), Recorder()
        cid = bytes(range(configuration.connection_id_length))
        server._protocols[cid] = known  # type: ignore[assignment]
        server._protocols[b"\xff" * len(cid)] = other  # type: ignore[assignment]
        short = bytes([0x40]) + cid + b"\x00" * 40
        server.datagram_received(short, ("127.0.0.1", 1))
        assert known.received == [short] and not other.received
        # An unknown connection ID, a short packet without its fixed bit, and one too
        # short to hold an ID reach nobody.
        server.datagram_received(bytes([0x40]) + b"\x01" * len(cid) + b"x", ("127.0.0.1", 1))
        server.datagram_received(bytes([0x00]) + cid + b"x", ("127.0.0.1", 1))
        server.datagram_received(bytes([0x40]) + cid[:3], ("127.0.0.1", 1))
        assert known.received == [short] and not other.received

    asyncio.run(main())


class FakeSender:
    def __init__(self) -> None:
        self._buffer = bytearray()  # what unacked_bytes reads


class FakeStream:
    def __init__(self) -> None:
        self.sender = FakeSender()


class FakeQuic:
    """The little of aioquic's QuicConnection the host protocol's writes touch."""

    def __init__(self) -> None:
        self._streams = {0: FakeStream()}
        self.writes: list[bytes] = []
        self.closed: str | None = None

    def send_stream_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        self.writes.append(data)
        self._streams[stream_id].sender._buffer += data

    def close(self, error_code: int = 0, reason_phrase: str = "") -> None:
        self.closed = reason_phrase

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Any]]:
        return []

    def get_timer(self) -> float | None:
        return None


def host_protocol(max_backlog: int) -> tuple[Any, FakeQuic, list[str]]:
    quic, lost = FakeQuic(), []
    host = type("Host", (), {"lost": lambda self, conn, reason: lost.append(reason)})()
    protocol = QuicHostProtocol(quic, host_loop=host, max_backlog=max_backlog)
    protocol._stream = 0  # the hop session's stream is open
    return protocol, quic, lost


def test_the_writes_of_one_turn_reach_the_stream_as_one() -> None:
    async def main() -> None:
        protocol, quic, lost = host_protocol(max_backlog=1 << 20)
        for n in range(5):
            protocol.write(bytes([n]) * 3)
        assert quic.writes == []  # nothing yet: the turn is not over
        await asyncio.sleep(0)  # the transmit the first write scheduled runs
        assert quic.writes == [b"".join(bytes([n]) * 3 for n in range(5))]
        assert not lost and quic.closed is None

    asyncio.run(main())


def test_a_turn_past_the_backlog_drops_the_reader_as_too_slow() -> None:
    async def main() -> None:
        protocol, quic, lost = host_protocol(max_backlog=100)
        protocol.write(b"x" * 60)
        await asyncio.sleep(0)
        assert not lost  # 60 unacknowledged bytes: within the backlog
        protocol.write(b"x" * 30)
        protocol.write(b"x" * 30)  # 120 once this turn's writes are in
        await asyncio.sleep(0)
        assert lost == ["too slow to keep up"] and quic.closed == "too slow to keep up"
        protocol.write(b"more")  # a dropped reader gets nothing more
        await asyncio.sleep(0)
        assert len(quic.writes) == 2

    asyncio.run(main())
