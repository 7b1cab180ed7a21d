"""Trust on first use, as a person meets it: the prompt, the refusals, a changed key."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_trust_prompt_no_then_yes_then_silent(lab: Lab) -> None:
    host = lab.host("ana")
    expected = lab.fingerprint(host.config)
    assert host.fingerprint == expected
    known_hosts = lab.config("bob") / "known_hosts.json"

    # First attempt: the fingerprint and a yes/no question; "no" refuses, pins nothing.
    bob = lab.join(host, "bob", accept_new=False, welcome=False)
    bob.expect(r"can't be established")
    shown = bob.expect(r"Its identity fingerprint is (SHA256:\S+)").group(1)
    assert shown == expected
    bob.expect(r"\(yes/no\)\? ")
    bob.type("no")
    bob.expect(r"not trusted")
    assert bob.wait_exit() == 4
    assert "Welcome" not in bob.text
    assert "bob joined" not in host.text
    assert (
        not known_hosts.exists() or host.address not in json.loads(known_hosts.read_text())["hosts"]
    )

    # Second attempt: "yes" connects and pins.
    bob = lab.join(host, "bob", accept_new=False, welcome=False)
    bob.expect(r"\(yes/no\)\? ")
    bob.type("yes")
    bob.expect(r"Welcome, bob!")
    host.expect(r" \* bob joined\.")
    pins = json.loads(known_hosts.read_text())["hosts"]
    assert pins[host.address]["key"] == expected
    bob.type("/quit")
    assert bob.wait_exit() == 0
    host.expect(r" \* bob left\.")

    # Third attempt: pinned, so no question at all.
    bob = lab.join(host, "bob", accept_new=False)
    host.expect(r" \* bob joined\.")
    assert "yes/no" not in bob.text
    assert "can't be established" not in bob.text


def test_send_refuses_unknown_host_without_a_terminal(lab: Lab) -> None:
    host = lab.host("ana")
    expected = lab.fingerprint(host.config)
    known_hosts = lab.config("cron") / "known_hosts.json"

    refused = lab.send(host, b"should not arrive\n")
    err = refused.stderr.decode()
    assert refused.returncode == 4, err
    assert expected in err
    assert f"--fingerprint {expected}" in err
    assert "--accept-new" in err
    assert not known_hosts.exists()

    wrong = "SHA256:" + "A" * 42 + "E"  # well formed, not this host's
    assert wrong != expected
    mismatch = lab.send(host, b"should not arrive either\n", "--fingerprint", wrong)
    assert mismatch.returncode == 4, mismatch.stderr.decode()
    assert expected in mismatch.stderr.decode()
    assert not known_hosts.exists()

    ok = lab.send(host, b"verified hello\n", "--fingerprint", expected)
    assert ok.returncode == 0, ok.stderr.decode()
    host.expect(r"cron: verified hello")
    assert "should not arrive" not in host.text
    assert json.loads(known_hosts.read_text())["hosts"][host.address]["key"] == expected


def test_changed_host_key_is_refused_loudly(lab: Lab) -> None:
    host = lab.host("ana")
    first = host.fingerprint
    bob = lab.join(host, "bob")  # --accept-new pins the first identity
    host.expect(r" \* bob joined\.")
    bob.type("/quit")
    assert bob.wait_exit() == 0
    known_hosts = lab.config("bob") / "known_hosts.json"
    pinned = known_hosts.read_bytes()
    assert first in pinned.decode()

    # The host makes a new identity and comes back on the same port.
    host.type("/quit")
    assert host.wait_exit() == 0
    keygen = lab.run("keygen", "--force", "--config-dir", str(host.config))
    assert keygen.returncode == 0, keygen.stderr.decode()
    host = lab.host("ana", port=host.port)
    assert host.fingerprint != first

    # Neither --accept-new nor a terminal may get past a changed key.
    bob = lab.join(host, "bob", welcome=False)
    bob.expect(r"REMOTE HOST IDENTIFICATION HAS CHANGED")
    bob.expect(rf"severus trust remove {host.address}")
    assert bob.wait_exit() == 4
    assert first in bob.text
    assert host.fingerprint in bob.text
    assert "yes/no" not in bob.text
    assert known_hosts.read_bytes() == pinned
    assert "bob joined" not in host.text

    sender = lab.send(host, b"nope\n", "--accept-new", config="bob")
    assert sender.returncode == 4
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in sender.stderr.decode()
    assert known_hosts.read_bytes() == pinned

    removed = lab.run("trust", "remove", host.address, "--config-dir", str(lab.config("bob")))
    assert removed.returncode == 0, removed.stderr.decode()
    bob = lab.join(host, "bob", accept_new=False, welcome=False)
    shown = bob.expect(r"Its identity fingerprint is (SHA256:\S+)").group(1)
    assert shown == host.fingerprint
    bob.expect(r"\(yes/no\)\? ")
    bob.type("yes")
    bob.expect(r"Welcome, bob!")
    host.expect(r" \* bob joined\.")
    pins = json.loads(known_hosts.read_text())["hosts"]
    assert pins[host.address]["key"] == host.fingerprint
