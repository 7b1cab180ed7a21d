"""A host key that changed while a joiner was away: reconnecting meets it with the whole
warning and exit 4, however the joiner first trusted the host."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

RECONNECT_WITHIN = 40.0  # backoff 1 s, 2 s, 4 s ... on a busy machine


def test_joined_by_address_after_a_yes(lab: Lab) -> None:
    ana = lab.host("ana")
    first = ana.fingerprint
    bob = lab.join(ana, "bob", accept_new=False, welcome=False)
    bob.expect(r"\(yes/no\)\? ")
    bob.type("yes")
    bob.expect(r"Welcome, bob!")
    ana.type("/quit")
    assert ana.wait_exit() == 0
    bob.expect(r"reconnecting in \d+ s")
    keygen = lab.run("keygen", "--force", "--config-dir", str(ana.config))
    assert keygen.returncode == 0, keygen.stderr.decode()
    ana = lab.host("ana", port=ana.port)
    assert ana.fingerprint != first

    bob.expect(r"REMOTE HOST IDENTIFICATION HAS CHANGED", timeout=RECONNECT_WITHIN)
    bob.expect(rf"severus trust remove {ana.address}")
    assert bob.wait_exit() == 4
    assert first in bob.text and ana.fingerprint in bob.text
    assert "Traceback" not in bob.text


def test_joined_by_ticket(lab: Lab) -> None:
    ana = lab.host("ana")
    ticket = ticket_in(ana.text)
    bob = lab.spawn(
        "join", ticket, "--nick", "bob", "--config-dir", str(lab.config("bob")), name="join bob"
    )
    bob.expect(r"Welcome, bob!")
    ana.type("/quit")
    assert ana.wait_exit() == 0
    bob.expect(r"reconnecting in \d+ s")
    # Another identity behind the very same certificate: only the key check can tell.
    forged = lab.config("forged")
    keygen = lab.run("keygen", "--config-dir", str(forged))
    assert keygen.returncode == 0, keygen.stderr.decode()
    for name in ("tls.crt", "tls.key"):
        shutil.copy(ana.config / name, forged / name)
    impostor = lab.host("ana", port=ana.port, config="forged")
    assert impostor.fingerprint != ana.fingerprint

    bob.expect(r"REMOTE HOST IDENTIFICATION HAS CHANGED", timeout=RECONNECT_WITHIN)
    bob.expect(r"Ask the host for a new ticket")
    assert bob.wait_exit() == 4
    assert ana.fingerprint in bob.text and impostor.fingerprint in bob.text
    assert "trust remove" not in bob.text
