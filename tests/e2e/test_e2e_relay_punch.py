"""A relay and a host, real processes: strangers cannot aim the host's punches.

Before, the relay passed on ``punch`` with any ``[ip, port]`` from any key, and the
host sent six datagrams there each time: four strangers made a host send 120
datagrams to an address of their choosing. Now the relay passes on only a request
to punch towards the requester's own address, and the host limits punches per
target. All on loopback: the victim is a socket on 127.0.0.77, the strangers
connect from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import time
from typing import TYPE_CHECKING

from severus_cli.core.nat.relay_packets import Peer, PunchRequest, RelayError
from severus_cli.core.trust.ticket import decode_ticket
from severus_cli.net.relay_client import RelayChannel
from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

PUNCHES = 6  # datagrams the host sends for one punchto (udp_nat.PUNCH_TIMES)


def udp_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


def received(sock: socket.socket, want: int, within: float) -> int:
    """Datagrams ``sock`` has or gets, until ``want`` arrived or ``within`` passed
    (it always reads what is already there, even with ``within`` 0)."""
    count = 0
    deadline = time.monotonic() + within
    while True:
        if select.select([sock], [], [], max(0.0, min(0.2, deadline - time.monotonic())))[0]:
            while True:
                try:
                    sock.recv(2048)
                except BlockingIOError:
                    break
                count += 1
        if count >= want or time.monotonic() >= deadline:
            return count


async def strangers_punch(
    relay_port: int, host_key: bytes, victim: tuple[str, int], sentinel: tuple[str, int]
) -> tuple[list[object], object]:
    """Four strangers ask for punches at ``victim`` four times each; then one asks
    for a punch at its own ``sentinel``. The answers, in order."""
    answers: list[object] = []
    channels = [await RelayChannel.open("127.0.0.1", relay_port, os.urandom(32)) for _ in range(4)]
    try:
        for channel in channels:
            for _ in range(4):
                channel.send(PunchRequest(host_key, victim))
                answers.append(await asyncio.wait_for(channel.receive(), 10))
        channels[0].send(PunchRequest(host_key, sentinel))
        last = await asyncio.wait_for(channels[0].receive(), 10)
    finally:
        for channel in channels:
            await channel.close()
    return answers, last


def test_strangers_cannot_aim_the_hosts_punches(lab: Lab) -> None:
    relay_port = lab.free_port()
    relay = lab.spawn(
        "relay",
        "--bind",
        "127.0.0.1",
        "--port",
        str(relay_port),
        "--config-dir",
        str(lab.config("relay")),
        name="relay",
    )
    relay.expect(r"Severus relay on TCP and UDP port")
    ana = lab.host("ana", "--mode", "quic", "--relay", f"127.0.0.1:{relay_port}")
    ana.expect(r"relay: registered with .*public UDP 127\.0\.0\.1:\d+")
    host_key = decode_ticket(ticket_in(ana.text)).key

    victim, sentinel = udp_socket("127.0.0.77"), udp_socket("127.0.0.1")
    try:
        answers, last = asyncio.run(
            strangers_punch(relay_port, host_key, victim.getsockname(), sentinel.getsockname())
        )
        assert all(isinstance(a, RelayError) and a.code == "bad_address" for a in answers)
        assert isinstance(last, Peer) and last.udp is not None
        # The sentinel was asked for last, on the same relay and host connections: once
        # all its punches arrived, any punch at the victim would have arrived too.
        assert received(sentinel, PUNCHES, within=10.0) == PUNCHES
        assert received(victim, 1, within=0.0) == 0
    finally:
        victim.close()
        sentinel.close()
    # Punches are routine and not shown in the host's chat; the victim never is.
    assert "127.0.0.77" not in ana.text
