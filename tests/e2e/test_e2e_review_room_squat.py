"""Review of issue 11, item 3: room squatting by one attacker with several connections.

Each participant may be in 16 rooms (``--max-rooms-per-user``), but one address may
hold 16 connections (``--max-per-ip``), and the host has 256 rooms: 16 x 16 fills
them. One machine, registering at the allowed pace (10, then one every 2 s), takes
every room in about 15 s, and nobody else can create one. One attacker (an address,
an IPv6 /64, as every other per-address cap counts) must not exhaust the rooms.
"""

from __future__ import annotations

import time

from severus_cli.core.host.core import HostConfig
from severus_cli.core.wire import packets
from tests.e2e.attack import RawPeer
from tests.e2e.lab import Lab

DEFAULTS = HostConfig()


def _answers(peer: RawPeer, wanted: int, within: float) -> dict[str, int]:
    seen: dict[str, int] = {}
    deadline = time.monotonic() + within
    while sum(seen.values()) < wanted and time.monotonic() < deadline:
        peer.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = peer.sock.recv(1 << 20)
        except TimeoutError:
            break
        for packet in peer.decode(data):
            if isinstance(packet, packets.Users | packets.Error):
                kind = packet.code if isinstance(packet, packets.Error) else "users"
                seen[kind] = seen.get(kind, 0) + 1
    return seen


def _register(peer: RawPeer, nick: str) -> None:
    """hello, again every second while the host paces registrations from this address."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        peer.send(packets.encode(packets.Hello(nick, "attack", ())))
        peer.sock.settimeout(5)
        got = peer.decode(peer.sock.recv(1 << 20))
        if any(isinstance(packet, packets.Welcome) for packet in got):
            return
        time.sleep(1.0)
    raise AssertionError("never registered")


def test_one_address_cannot_take_every_room(lab: Lab) -> None:
    ana = lab.host("ana")
    squatters: list[RawPeer] = []
    try:
        for n in range(DEFAULTS.max_per_ip):  # every connection one address may hold
            peer = RawPeer(ana.port)
            _register(peer, f"sq{n}")
            squatters.append(peer)
            rooms = DEFAULTS.max_rooms_per_user
            joins = (packets.Join(i, f"s{n}r{i}") for i in range(1, rooms + 1))
            peer.sock.sendall(peer.frames(packets.encode(j) for j in joins))
            _answers(peer, rooms, 10.0)
        ana.type("/join fresh")
        ana.expect(r"Now talking in #fresh|cannot join fresh")
        assert "cannot join fresh" not in ana.text, "one address took every room"
    finally:
        for peer in squatters:
            peer.close()
