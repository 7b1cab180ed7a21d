"""Spoofed QUIC Initials for the address-validation tests: real client Initials (so
the host parses and would act on them) sent from many loopback source addresses; and
validated handshakes held open from one source, for the handshake caps.

All of 127.0.0.0/8 is this machine, so a socket bound to 127.a.b.c is a source the
test owns but never answers from, exactly what a spoofed source looks like to the
host. Only loopback is touched, and every loop is bounded.
"""

from __future__ import annotations

import asyncio
import os
import random
import select
import socket
import ssl
import time

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from severus_cli.net.tls import ALPN

RETRY_MASK = 0xF0  # long header, fixed bit, type 3: a QUIC v1 Retry


def initial(port: int) -> bytes:
    """A fresh client's first Initial (padded to 1200 bytes) towards 127.0.0.1:port."""
    quic = QuicConnection(configuration=QuicConfiguration(is_client=True, alpn_protocols=[ALPN]))
    quic.connect(("127.0.0.1", port), now=time.time())
    return quic.datagrams_to_send(now=time.time())[0][0]


def random_source(rng: random.Random) -> str:
    """A loopback address other than 127.0.0.1."""
    return f"127.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"


def flood(port: int, sources: list[str], per_source: int = 1, within: float = 10.0) -> list[int]:
    """Send ``per_source`` Initials from each source, then wait (up to ``within``) for
    the host to answer every one; the first bytes of the answers, per datagram.

    Waiting for the answers makes sure the host processed the whole flood (the
    kernel drops what overflows a socket), without a fixed sleep."""
    sockets = []
    answers: list[int] = []
    try:
        for source in sources:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.bind((source, 0))
            sock.setblocking(False)
            for _ in range(per_source):
                sock.sendto(initial(port), ("127.0.0.1", port))
        waiting = {sock: per_source for sock in sockets}
        deadline = time.monotonic() + within
        while waiting and time.monotonic() < deadline:
            readable, _, _ = select.select(list(waiting), [], [], 0.2)
            for sock in readable:
                while True:
                    try:
                        data = sock.recv(2048)
                    except BlockingIOError:
                        break
                    answers.append(data[0])
                    waiting[sock] -= 1
                    if waiting[sock] <= 0:
                        del waiting[sock]
                        break
    finally:
        for sock in sockets:
            sock.close()
    return answers


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class _Silent:
    """Stands in for a dropped connection's transport: what aioquic still sends (its
    timers outlive the connection) goes nowhere."""

    def sendto(self, data: bytes, addr: object = None) -> None:
        pass


def hold_handshakes(port: int, source: str, count: int, within: float = 15.0) -> list[str]:
    """Open ``count`` QUIC connections to 127.0.0.1:port from ``source`` at once, each
    answering the Retry and completing its handshake but never opening a stream, then
    drop them silently: the host counts each one it accepted as a handshake in progress
    until its handshake timeout. The outcome per connection: "held", or the reason the
    host refused it with."""

    async def one(dropped: list[asyncio.BaseTransport]) -> str:
        config = QuicConfiguration(
            is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE, server_name="x"
        )
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: QuicConnectionProtocol(QuicConnection(configuration=config)),
            local_addr=(source, 0),
        )
        dropped.append(transport)
        protocol.connect(("127.0.0.1", port))
        try:
            await asyncio.wait_for(protocol.wait_connected(), within)
            return "held"
        except ConnectionError:
            event = protocol._quic._close_event
            return event.reason_phrase if event is not None else "closed"
        finally:
            protocol._transport = _Silent()  # type: ignore[assignment]

    async def all_at_once() -> list[str]:
        dropped: list[asyncio.BaseTransport] = []
        try:
            return list(await asyncio.gather(*(one(dropped) for _ in range(count))))
        finally:
            for transport in dropped:
                transport.close()  # no CONNECTION_CLOSE: the host is not told

    return asyncio.run(all_at_once())
