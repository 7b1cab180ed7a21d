"""Request floods and room squatting against a real host, seen from an honest member.

A raw wire client (tests/e2e/attack.py) registers as mallory and does what the
finding did: join and part a room over and over, first just under the point where the
host cuts it off, then as fast as TCP takes it; and takes as many rooms as it can.
cy, an honest member of that room, must see only a few of mallory's comings and goings
a second, and bob must still be able to make a room. Every wait is for an event; what
cy did not see is checked after a later line (a sentinel) arrived.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import TYPE_CHECKING

from severus_cli.core.host.core import HostConfig
from severus_cli.core.wire import packets
from tests.e2e.attack import RawPeer, assert_no_traceback

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Term

DEFAULTS = HostConfig()
MALLORY_IN_DEN = re.compile(r"\* mallory (joined|left) #den")


def _tally(peer: RawPeer, seen: dict[str, int], within: float) -> bool:
    """Read what the host sent ``peer`` for up to ``within`` s; False once it closed."""
    peer.sock.settimeout(within)
    try:
        data = peer.sock.recv(1 << 20)
    except TimeoutError:
        return True
    except OSError:
        return False
    if not data:
        return False
    for packet in peer.decode(data):
        kind = packet.code if isinstance(packet, packets.Error) else packet.TYPE
        if isinstance(packet, packets.Error) and packet.fatal:
            kind = f"fatal {kind}"
        seen[kind] = seen.get(kind, 0) + 1
    return True


def _events_since(term: Term, mark: int) -> int:
    return len(MALLORY_IN_DEN.findall(term.text_since(mark)))


def _sentinel(bob: Term, cy: Term, label: str) -> None:
    """A line from bob that cy sees: whatever the host did before it, cy has seen too."""
    bob.say(label, "bob")
    cy.expect(rf"bob: {label}")


def test_join_part_floods_and_room_squatting(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    cy = lab.join(ana, "cy")
    bob.type("/join den")
    bob.expect(r"Now talking in #den")
    cy.type("/join den")
    cy.expect(r"Now talking in #den \(2 here")

    # 1. Join and part for 10 s at 30 requests a second: under the point where the host
    # cuts a peer off, so the host has to keep refusing it all along.
    mallory = RawPeer(ana.port)
    mallory.hello("mallory")
    seen: dict[str, int] = {}
    mark, request = cy.mark(), 0
    start = time.monotonic()
    for tick in range(1, 101):
        batch = []
        for _ in range(3):
            request += 1
            room_request = packets.Join if request % 2 else packets.Part
            batch.append(packets.encode(room_request(request, "den")))
        mallory.sock.sendall(mallory.frames(batch))
        while (left := start + tick / 10 - time.monotonic()) > 0:  # the attacker's pace
            assert _tally(mallory, seen, left), f"the host cut off a paced flood: {seen}"
    _sentinel(bob, cy, "sentinel-paced")
    elapsed = time.monotonic() - start
    events = _events_since(cy, mark)
    print(f"\n[floods] paced join/part: {request} requests, cy saw {events} in {elapsed:.1f} s")
    print(f"[floods] mallory was answered: {seen}")
    bound = DEFAULTS.membership_burst + DEFAULTS.membership_per_second * elapsed
    assert DEFAULTS.membership_burst <= events <= bound + 1, events
    assert seen.get("rate_limited", 0) > request / 2, seen

    # 2. As fast as TCP takes it, every kind of request, as in the finding (314,400
    # packets in 10 s): the host refuses, then disconnects mallory.
    mark, seen = cy.mark(), {}
    kinds = (
        lambda n: packets.Join(n, "den"),
        lambda n: packets.Part(n, "den"),
        lambda n: packets.Names(n, "den"),
        packets.ListRooms,
        lambda n: packets.Whois(n, "cy"),
        packets.Ping,
    )
    blast = [packets.encode(kinds[n % len(kinds)](n)) for n in range(20_000)]
    start = time.monotonic()
    with contextlib.suppress(OSError):  # cut off before it all went out
        mallory.sock.sendall(mallory.frames(blast))
    deadline = start + 30  # bounds a failure only
    while _tally(mallory, seen, 1.0):
        assert time.monotonic() < deadline, f"the host never cut the flood off: {seen}"
    mallory.close()
    print(f"[floods] blasted mallory was answered: {seen}")
    assert seen.get("fatal rate_limited") == 1, seen
    cy.expect(r"\* mallory left\. \(too many requests over the rate limit\)")
    _sentinel(bob, cy, "sentinel-blast")
    elapsed = time.monotonic() - start
    events = _events_since(cy, mark)
    print(f"[floods] blast: cy saw {events} in {elapsed:.1f} s")
    # The burst and the rate, and mallory leaving #den when it was disconnected.
    assert events <= DEFAULTS.membership_burst + DEFAULTS.membership_per_second * elapsed + 1

    # 3. Room squatting: mallory2 asks for 40 new rooms and gets 16; bob still makes one.
    squatter = RawPeer(ana.port)
    squatter.hello("mallory2")
    squatter.sock.sendall(
        squatter.frames(packets.encode(packets.Join(n, f"sq{n}")) for n in range(1, 41))
    )
    seen = {}
    while seen.get("users", 0) + seen.get("too_many_rooms", 0) < 40:
        assert _tally(squatter, seen, 10.0), seen
    assert seen == {"users": DEFAULTS.max_rooms_per_user, "too_many_rooms": 24}, seen
    bob.type("/join fresh")
    bob.expect(r"Now talking in #fresh \(1 here: bob\)")
    squatter.close()
    assert_no_traceback(bob, cy)
