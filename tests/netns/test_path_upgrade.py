"""A relayed session moves onto a punched path when one opens (PROTOCOL.md 4.8).

Relay in public, host behind NAT-A, joiner behind NAT-B (natlab.py), both cone NATs;
NAT-B drops every UDP packet at first, so STUN and punching fail and the joiner is
relayed. Once UDP passes again the joiner's background tries find the punched path
and the session moves onto it: one "now direct (punched)" line, no disconnect, no
line lost or shown twice, and then the relay can go.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.netns.natlab import NatLab, Process
from tests.netns.test_nat_traversal import exchange, join, lab, nat_lab, start_host, start_relay

__all__ = ["lab", "nat_lab"]  # the fixtures, shared with the other NAT tests

MOVE_BOUND = 45.0  # seconds from UDP opening to the session being on the punched path
BLOCK = """
table ip sev_noudp {
  chain fw { type filter hook forward priority -10; policy accept;
    meta l4proto udp drop
  }
}
"""


def block_udp(lab: NatLab, side: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", lab.ns(f"nat{side}"), "nft", "-f", "-"], input=BLOCK,
        text=True, check=True,
    )  # fmt: skip


def unblock_udp(lab: NatLab, side: str) -> None:
    nat = lab.ns(f"nat{side}")
    subprocess.run(["ip", "netns", "exec", nat, "nft", "delete", "table", "ip", "sev_noudp"],
                   check=False)  # fmt: skip


def events(process: Process, name: str, since: int = 0) -> list[dict[str, object]]:
    """The JSON events called ``name`` among the lines read so far (from ``since``)."""
    found = []
    for line in process.lines[since:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            found.append(event)
    return found


@pytest.mark.parametrize("relayed_for", [0.0, 40.0], ids=["soon", "later"])
def test_a_relayed_session_moves_to_a_punched_path_once_udp_opens(
    lab: NatLab, relayed_for: float
) -> None:
    """``relayed_for``: seconds of chat over the relay before UDP opens; by 40 s the
    background tries have backed off to their longest wait."""
    lab.set_nats("cone", "cone")
    block_udp(lab, "b")
    try:
        relay = start_relay(lab)
        host, ticket = start_host(lab)
        carol, _ = join(lab, "a", ticket, "carol")
        bob, path = join(lab, "b", ticket, "bob")
        assert path.startswith("relayed")
        exchange(bob, carol, "bob", "over the relay")
        exchange(carol, bob, "carol", "heard you")
        mark = len(carol.lines)  # what carol sees of bob from here on: nothing but lines
        relayed = time.monotonic()
        while time.monotonic() - relayed < relayed_for:  # failed tries disturb nothing
            exchange(bob, carol, "bob", "still relayed")
            time.sleep(2)
        assert not [e for e in events(bob, "notice") if str(e["text"]).startswith("now ")]
    finally:
        opened = time.monotonic()
        unblock_udp(lab, "b")
    said = 0
    moved = ""
    while not moved:  # both keep talking until bob's session says it moved
        exchange(bob, carol, "bob", f"bob-{said}")
        exchange(carol, bob, "carol", f"carol-{said}")
        said += 1
        moved = next((str(e["text"]) for e in events(bob, "notice")
                      if str(e["text"]).startswith("now ")), "")  # fmt: skip
        assert time.monotonic() - opened < MOVE_BOUND, "still relayed"
        time.sleep(0.5)
    seconds = time.monotonic() - opened
    print(f"UDP opened -> session on the punched path in {seconds:.1f} s ({said} rounds)")
    assert moved == "now direct (punched)"
    relay.proc.kill()  # not a goodbye: the relay just vanishes
    relay.proc.wait(timeout=5)
    host.until(lambda line: "relay:" in line and "registered" not in line)  # it noticed
    exchange(bob, carol, "bob", "the relay is gone and we still talk")
    exchange(carol, bob, "carol", "end of carol")
    exchange(bob, carol, "bob", "end of bob")
    for speaker, listener in (("bob", carol), ("carol", bob)):
        heard = [e["text"] for e in events(listener, "message") if e["sender"] == speaker]
        mine = [t for t in heard if str(t).startswith(f"{speaker}-")]
        assert mine == [f"{speaker}-{i}" for i in range(said)]  # each once, in order
    assert not events(bob, "disconnected")
    assert not [line for line in bob.lines if "reconnect" in line]
    membership = events(carol, "leave", mark) + events(carol, "join", mark)
    assert not [e for e in membership if e.get("nick") == "bob"]
    bob.write("/stats")
    stats = bob.until(lambda line: "path to the host" in line)
    assert "punched" in stats and "relayed from" in stats


def test_a_relayed_session_survives_a_suspend_and_still_moves_afterwards(lab: NatLab) -> None:
    """A laptop that sleeps mid-session (SIGSTOP: no packet in or out for 35 s, longer
    than the host's 30 s idle limit, so the session is surely gone: after a shorter
    sleep a pong still in the pipe may keep it alive, rightly): on waking the joiner
    notices, reconnects (relayed again, UDP is still blocked), chats, and once UDP
    opens its new session moves to the punched path like the first would have."""
    lab.set_nats("cone", "cone")
    block_udp(lab, "b")
    try:
        start_relay(lab)
        _, ticket = start_host(lab)
        carol, _ = join(lab, "a", ticket, "carol")
        bob, path = join(lab, "b", ticket, "bob")
        assert path.startswith("relayed")
        exchange(bob, carol, "bob", "before the sleep")
        bob.proc.send_signal(signal.SIGSTOP)
        time.sleep(35)  # (the suspend itself: nothing is asserted meanwhile)
        bob.proc.send_signal(signal.SIGCONT)
        bob.until(lambda line: "reconnected" in line, timeout=60)
        exchange(bob, carol, "bob", "awake again")
        exchange(carol, bob, "carol", "welcome back")
    finally:
        opened = time.monotonic()
        unblock_udp(lab, "b")
    bob.until(lambda line: "now direct (punched)" in line, timeout=MOVE_BOUND)
    print(f"after the suspend: UDP opened -> punched in {time.monotonic() - opened:.1f} s")
    exchange(bob, carol, "bob", "and direct now")
    assert bob.proc.poll() is None
