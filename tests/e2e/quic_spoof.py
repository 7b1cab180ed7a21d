"""Spoofed QUIC Initials for the address-validation tests: real client Initials (so
the host parses and would act on them) sent from many loopback source addresses.

All of 127.0.0.0/8 is this machine, so a socket bound to 127.a.b.c is a source the
test owns but never answers from, exactly what a spoofed source looks like to the
host. Only loopback is touched, and every loop is bounded.
"""

from __future__ import annotations

import os
import random
import select
import socket
import time

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
