"""Real processes: bounds and warnings of a client that a host cannot talk it out of.

- The host's own chat with an unreadable known_peers.json says, as ``join`` does, that
  known peers are not checked this time, and leaves the file for the user to repair.
- A hostile host that announces made-up participants without end makes a joiner keep
  at most ``MAX_ROSTER`` of them, with one warning; the joiner stays responsive and
  still talks with the real members.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.client.roster import MAX_ROSTER
from tests.e2e.lab import cli_env

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

EVIL = str(Path(__file__).parent / "evil_host")
CORRUPT = b'{"version": 1, "hosts": {'


def test_the_hosts_chat_with_corrupt_known_peers_says_so_and_keeps_the_file(lab: Lab) -> None:
    config = lab.config("host")
    config.mkdir(mode=0o700, exist_ok=True)
    (config / "known_peers.json").write_bytes(CORRUPT)
    ana = lab.host("ana")
    said = " ".join(ana.text.split())  # wrapped at the terminal's width
    assert re.search(
        r"known peers are not checked this time: \S*known_peers.json is unreadable", said
    )
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    bob.type("hello ana")
    ana.expect(r"bob: hello ana")
    ana.type("/quit")
    assert ana.wait_exit() == 0
    assert (config / "known_peers.json").read_bytes() == CORRUPT  # not overwritten


def test_a_host_announcing_made_up_participants_without_end_is_bounded(lab: Lab) -> None:
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE="crowd", EVIL_CROWD=str(MAX_ROSTER + 3000))
    ana = lab.host("ana", env=env)
    bob = lab.bot(ana, "bob")
    cy = lab.join(ana, "cy")  # its welcome comes with the made-up crowd behind it
    cy.expect(rf"the host announced more than {MAX_ROSTER:,} participants", timeout=60)
    bob.write_line("/users")
    # cy still hears the real members and answers at once (the sentinel).
    bob.write_line("hello cy")
    cy.expect(r"bob: hello cy", timeout=60)
    cy.type("hello bob")
    bob.wait_json(event="message", sender="cy", text="hello bob")
    assert cy.text.count("participants; the rest are") == 1
    cy.type("/quit")
    assert cy.wait_exit() == 0
