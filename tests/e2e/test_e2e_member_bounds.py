"""Another member attacks a real client through an honest host: keys handed out for rooms
that do not exist, handshakes started in a loop. The victim, an unmodified
``severus join --json``, must keep bounded memory, stay connected, keep its own budget
at the host for what its user says, and tell the user who is doing it.

Each attack ends with a sentinel the victim can only show after handling everything
before it (a private message or a warning on the same pairwise channel), so absence is
proved without waiting a fixed time.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from severus_cli.core.e2e.keyring import HELLO_BURST, HELLO_RATE
from tests.e2e.attack import rss_kib
from tests.e2e.member_attack import Member

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Piped

ATTACKERS = 3
GIFTS = 5000  # per attacker: about 15,000 in all, some 10 s at the host's pace
GROWTH_KIB = 6 * 1024  # what the victim may grow by over the whole flood
HELLOS = 4000  # per attacker, within the host's control burst for each


def _in_parallel(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join(120)
        assert not thread.is_alive(), "an attacker did not finish"


def _each_seen(bot: Piped, texts: set[str], timeout: float = 60.0) -> None:
    """Wait until every one of ``texts`` was printed, in any order."""
    deadline = time.monotonic() + timeout
    waiting = set(texts)
    while waiting:
        line = bot.next_line(max(0.01, deadline - time.monotonic())).decode("utf-8", "replace")
        waiting = {text for text in waiting if text not in line}


def _lines(bot: Piped) -> str:
    return b"".join(bot.stdout).decode("utf-8", "replace")


def test_keys_for_rooms_that_do_not_exist_do_not_grow_the_victim(lab: Lab) -> None:
    host = lab.host("ana")
    victim = lab.bot(host, "vic")
    cy = lab.bot(host, "cy")
    members = [Member(host.port, f"mal{i}") for i in range(ATTACKERS)]
    for member in members:
        member.open_session("vic")
        victim.wait_json(event="dm", peer=member.nick, timeout=20)
    before = rss_kib(victim.proc.pid)

    def flood(member: Member) -> None:
        for _, data in zip(range(GIFTS), member.gifts("vic"), strict=False):
            member.relay("vic", "key", data)
        member.say_privately("vic", f"done {member.nick}")
        deadline = time.monotonic() + 30
        while member.delivered < GIFTS and time.monotonic() < deadline:
            member.pump(0.2)

    _in_parallel([threading.Thread(target=flood, args=(m,), daemon=True) for m in members])
    for member in members:
        assert not member.refused, member.refused[:3]
        assert member.delivered >= GIFTS, "the host did not relay the whole flood"
    _each_seen(victim, {f"done {m.nick}" for m in members})
    grown = rss_kib(victim.proc.pid) - before
    assert grown < GROWTH_KIB, f"the victim grew by {grown} KiB"
    # And it still talks: its key reaches cy, who reads it.
    victim.write_line("still here")
    cy.wait_json(event="message", sender="vic", text="still here", timeout=20)
    assert b"Traceback" not in victim.stderr


def test_handshakes_started_in_a_loop_are_not_answered_at_the_victims_expense(lab: Lab) -> None:
    host = lab.host("ana")
    victim = lab.bot(host, "vic")
    cy = lab.bot(host, "cy")
    members = [Member(host.port, f"mal{i}") for i in range(ATTACKERS)]
    start = time.monotonic()

    def flood(member: Member) -> None:
        for _ in range(HELLOS):
            member.relay("vic", "hs", b"\x01" + os.urandom(32))
        # The sentinel: a private message with no session open, which the victim can
        # only refuse (with a warning naming us) after every handshake before it.
        member.relay("vic", "dm", os.urandom(64))
        deadline = time.monotonic() + 30
        while member.delivered < HELLOS + 1 and time.monotonic() < deadline:
            member.pump(0.2)

    _in_parallel([threading.Thread(target=flood, args=(m,), daemon=True) for m in members])
    _each_seen(victim, {f"claiming to be from {m.nick} failed end-to-end" for m in members})
    elapsed = time.monotonic() - start
    for member in members:
        member.pump(0.5)
        answered = member.answers["vic", "hs"]
        assert answered <= HELLO_BURST + elapsed * HELLO_RATE + 1, answered
        assert member.delivered >= HELLOS + 1 and not member.refused
    shown = _lines(victim)
    for member in members:
        assert shown.count(f"{member.nick} starts private handshakes too often") == 1
    # Its own allowance at the host is intact: nothing refused, still connected, and what
    # its user says (with a key hand-out first) reaches cy.
    victim.write_line("my budget is mine")
    cy.wait_json(event="message", sender="vic", text="my budget is mine", timeout=20)
    shown = _lines(victim)
    assert "slow down" not in shown and '"disconnected"' not in shown, shown[-2000:]
