"""QUIC address validation on a real host: spoofed Initials cost it nothing.

Before Retry, the first Initial from a source took one of that source's connection
slots for the handshake timeout: 16 spoofed Initials carrying a victim's address
locked the victim out, and a flood from random addresses made the host hold a
connection (tens of KiB) for each. Now every token-less Initial gets a stateless
Retry, and only a source that answers it becomes a connection; and a source that does
answer holds only its share of the handshakes in progress.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from severus_cli.core.limits.admission import MAX_HANDSHAKES, SHARE, SOURCE_BUSY
from tests.e2e.attack import rss_kib
from tests.e2e.lab import ticket_in
from tests.e2e.quic_spoof import RETRY_MASK, cpu_seconds, flood, hold_handshakes, random_source

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

FLOOD = 2000  # Initials, one from each of as many loopback addresses
RSS_GROWTH_BOUND_KIB = 16 * 1024  # before Retry this flood grew the host by ~118 MiB


def test_spoofed_initials_do_not_lock_out_the_victim_address(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic")
    ticket = ticket_in(ana.text)
    rng = random.Random(6)
    # Three times the per-address cap (16) from the victim's address 127.0.0.1, and
    # more from other loopback addresses: none of them answers the host.
    answers = flood(ana.port, ["127.0.0.1"], per_source=48)
    answers += flood(ana.port, [random_source(rng) for _ in range(100)])
    assert len(answers) == 148  # the host has read them all

    bob = lab.join(ticket, "bob", accept_new=False)  # from 127.0.0.1, straight away
    bob.expect(r"connected over direct \(QUIC\)")
    ana.expect(r" \* bob joined\.")
    assert all(first & RETRY_MASK == RETRY_MASK for first in answers)  # Retry, nothing else


def test_a_flood_of_initials_keeps_host_memory_bounded(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic")
    ticket = ticket_in(ana.text)
    rng = random.Random(2000)
    sources = [random_source(rng) for _ in range(FLOOD)]
    flood(ana.port, sources[:50])  # warm up whatever the first packets allocate
    rss_before, cpu_before = rss_kib(ana.pid), cpu_seconds(ana.pid)
    answered = 0
    for start in range(0, FLOOD, 100):
        answered += len(flood(ana.port, sources[start : start + 100]))
    rss_after, cpu_after = rss_kib(ana.pid), cpu_seconds(ana.pid)
    growth = rss_after - rss_before
    print(
        f"\n{FLOOD} spoofed Initials: {answered} answered, host RSS {rss_before} -> "
        f"{rss_after} KiB ({growth:+d} KiB), host CPU {cpu_after - cpu_before:.2f} s"
    )
    assert answered == FLOOD  # the host read (and answered) every one
    assert growth < RSS_GROWTH_BOUND_KIB

    bob = lab.join(ticket, "bob", accept_new=False)  # and still lets a real joiner in
    bob.expect(r"connected over direct \(QUIC\)")


def test_one_address_cannot_take_every_quic_handshake_place(lab: Lab) -> None:
    """An attacker that answers Retries from one address, on a host that lifted the
    per-address cap, opens as many handshakes as the host has places and never finishes
    them. Before each source got a share, it held all 64 and every joiner was refused
    ("too many connections are being set up") until the handshake timeout."""
    ana = lab.host("ana", "--mode", "quic", "--max-per-ip", "0", "--handshake-timeout", "60")
    ticket = ticket_in(ana.text)
    outcomes = hold_handshakes(ana.port, "127.0.0.2", MAX_HANDSHAKES)
    share = MAX_HANDSHAKES // SHARE
    assert outcomes.count("held") == share
    assert outcomes.count(SOURCE_BUSY) == MAX_HANDSHAKES - share

    bob = lab.join(ticket, "bob", accept_new=False)  # from 127.0.0.1, within the timeout
    bob.expect(r"connected over direct \(QUIC\)")
    ana.expect(r" \* bob joined\.")
