"""Membership the user can see, and gaps the user is told about, with real processes.

The host decides who is in a room. A member who joined while we were away must be
shown when we come back, against who was there before, before any key of ours goes to
them; and room messages a host does not deliver must not vanish without a word.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.lab import cli_env

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

LOSSY = str(Path(__file__).resolve().parent / "lossy_host")


def test_after_a_reconnect_the_rooms_are_shown_against_before(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    bob.type("/join rust")
    bob.expect(r"Now talking in #rust")
    dan = lab.bot(ana, "dan")
    dan.write_line("/join rust")
    bob.expect(r" \* dan joined #rust")

    # While bob cannot reconnect (stopped), the host restarts: dan does not come back
    # and eve, whom bob never saw, is in #rust before him.
    os.kill(bob.pid, signal.SIGSTOP)
    try:
        os.kill(ana.pid, signal.SIGKILL)
        dan.kill()
        ana = lab.host("ana", port=ana.port)
        eve = lab.bot(ana, "eve")
        eve.write_line("/join rust")
        eve.wait_json(event="room", room="rust")
    finally:
        os.kill(bob.pid, signal.SIGCONT)

    bob.expect(r"reconnected", timeout=20)
    bob.expect(r"lobby after reconnect: \+eve \(new\), -dan \(3 here\)")
    bob.expect(r"#rust after reconnect: \+eve \(new\), -dan \(2 here\)")
    # Shown: what bob says in #rust now goes to eve too, key and all.
    bob.type("hello eve")
    eve.wait_json(event="message", sender="bob", room="rust", text="hello eve")
    bob.expect(r"\[bob\] hello eve")
    assert bob.text.index("#rust after reconnect") < bob.text.index("[bob] hello eve")
    assert "Traceback" not in bob.text


def test_room_messages_the_host_did_not_deliver_are_reported(lab: Lab) -> None:
    ana = lab.host("ana", env=cli_env(PYTHONPATH=LOSSY, LOSSY_HOST_DROP="2-4"))
    bob = lab.bot(ana, "bob")
    cy = lab.bot(ana, "cy")
    bob.wait_json(event="join", nick="cy")
    for i in range(1, 6):
        bob.write_line(f"m{i}")
    cy.wait_json(event="message", sender="bob", text="m1")
    lost = cy.wait_json(event="notice")
    assert lost["text"].startswith("3 messages from bob in the lobby were lost"), lost
    assert lost["level"] == "warn"
    assert cy.wait_json(event="message")["text"] == "m5"  # nothing shown in between
