"""Trust decisions made by scripts and careless hands, with real ``severus`` processes.

- ``trust accept-peer`` without a key names both fingerprints and changes nothing
  unless a person at a terminal says yes; a script must name the key it accepts.
- ``send --peer`` asserts a key for one run and never rewrites known_peers.
- ``trust add --cert`` pins the certificate too, so a join with a join secret sends
  nothing to another certificate; without it the first join says what it could not
  check, and pins the certificate it met.
- A corrupt known_peers.json stops ``send`` before anything is encrypted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.trust.identity_format import fingerprint
from tests.e2e.lab import cli_env, free_port
from tests.e2e.test_e2e_hop_binding import Impostor
from tests.test_client_core import key_of

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

HOST_FP = "SHA256:" + "A" * 43  # a host named by key, as tickets name it
PINNED, OFFERED = fingerprint(key_of("bob")), fingerprint(key_of("mallory"))
T0 = "2026-01-01T00:00:00Z"


def _conflict(config: Path) -> bytes:
    """known_peers.json where bob is pinned and the host offered another key."""
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = {"key": PINNED, "first_seen": T0, "last_seen": T0, "offered": OFFERED}
    document = {"version": 1, "hosts": {f"key {HOST_FP}": {"bob": entry}}}
    path = config / "known_peers.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path.read_bytes()


def _pin(config: Path) -> dict[str, str]:
    stored = json.loads((config / "known_peers.json").read_text())
    pin: dict[str, str] = stored["hosts"][f"key {HOST_FP}"]["bob"]
    return pin


def test_a_script_must_name_the_key_it_accepts(lab: Lab) -> None:
    config = lab.config("me")
    before = _conflict(config)
    args = ("trust", "accept-peer", HOST_FP, "bob", "--config-dir", str(config))
    refused = lab.run(*args)  # stdin is a pipe: no one to ask
    assert refused.returncode == 2, refused.stderr
    err = refused.stderr.decode()
    assert PINNED in err and OFFERED in err and "name the key" in err, err
    assert (config / "known_peers.json").read_bytes() == before
    named = lab.run(*args, OFFERED)
    assert named.returncode == 0, named.stderr
    assert _pin(config) == {**_pin(config), "key": OFFERED} and "offered" not in _pin(config)


def test_at_a_terminal_accept_peer_shows_both_keys_and_asks(lab: Lab) -> None:
    config = lab.config("me")
    before = _conflict(config)
    args = ("trust", "accept-peer", HOST_FP, "bob", "--config-dir", str(config))

    no = lab.spawn(*args)
    no.expect(rf"pinned:\s+{re.escape(PINNED)}")
    no.expect(rf"offered:\s+{re.escape(OFFERED)}")
    no.expect(r"Accept the new key \(yes/no\)\? ")
    no.type("y")  # not an answer: asked again
    no.expect(r"Please type 'yes', 'no' or the new fingerprint: ")
    no.type("no")
    assert no.wait_exit() == 4
    no.expect(r"stays pinned to")

    interrupted = lab.spawn(*args)
    interrupted.expect(r"Accept the new key \(yes/no\)\? ")
    interrupted.child.sendcontrol("c")  # Ctrl-C at the prompt
    assert interrupted.wait_exit() == 130
    assert (config / "known_peers.json").read_bytes() == before

    ended = lab.spawn(*args)
    ended.expect(r"Accept the new key \(yes/no\)\? ")
    ended.child.sendcontrol("d")  # Ctrl-D: end of input refuses
    assert ended.wait_exit() == 4
    assert (config / "known_peers.json").read_bytes() == before

    yes = lab.spawn(*args)
    yes.expect(r"Accept the new key \(yes/no\)\? ")
    yes.type("yes")
    assert yes.wait_exit() == 0
    yes.expect(re.escape(f"Trusted bob on {HOST_FP} as {OFFERED} (was {PINNED})"))
    assert _pin(config)["key"] == OFFERED and "offered" not in _pin(config)


def test_send_peer_option_checks_and_never_repins(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.bot(host, "bob")
    real = lab.fingerprint(lab.config("bob"))
    label = f"key {host.fingerprint}"
    cron = lab.config("cron")
    cron.mkdir(mode=0o700, exist_ok=True)
    # cron pinned another key for bob earlier (say, a host that lied back then).
    wrong = {"key": OFFERED, "first_seen": T0, "last_seen": T0}
    document = {"version": 1, "hosts": {label: {"bob": wrong}}}
    (cron / "known_peers.json").write_text(json.dumps(document), encoding="utf-8")

    asserted = lab.send(host, b"asserted\n", "--to", "bob", "--accept-new", "--peer", f"bob={real}")
    assert asserted.returncode == 0, asserted.stderr
    assert bob.wait_json(event="dm", peer="cron")["text"] == "asserted"
    stored = json.loads((cron / "known_peers.json").read_text())["hosts"][label]["bob"]
    assert stored == wrong  # the pin is as it was: --peer is a check, not an acceptance

    plain = lab.send(host, b"unchecked\n", "--to", "bob")
    assert plain.returncode == 4, plain.stderr  # the pin still decides without --peer
    assert OFFERED in plain.stderr.decode() and real in plain.stderr.decode()


def test_send_with_corrupt_known_peers_sends_nothing(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.bot(host, "bob")
    cron = lab.config("cron")
    cron.mkdir(mode=0o700, exist_ok=True)
    (cron / "known_peers.json").write_text('{"version": 1, "hosts": {', encoding="utf-8")
    broken = lab.send(host, b"not checked\n", "--to", "bob", "--accept-new")
    assert broken.returncode == 3, broken.stderr
    err = broken.stderr.decode()
    assert "known_peers.json" in err and "Nothing was sent" in err, err
    # Sentinel: a later message from someone else arrives first and alone.
    other = lab.send(host, b"sentinel\n", "--to", "bob", "--accept-new", nick="cy", config="cy")
    assert other.returncode == 0, other.stderr
    first_dm = bob.wait_json(event="dm")
    assert (first_dm["peer"], first_dm["text"]) == ("cy", "sentinel")


def _host_fingerprints(lab: Lab, name: str) -> tuple[str, str]:
    result = lab.run("fingerprint", "--json", "--config-dir", str(lab.config(name)))
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    return shown["identity"], shown["certificate"]


def test_trust_add_with_cert_sends_no_secret_message_to_another_certificate(lab: Lab) -> None:
    key_fp, cert_fp = _host_fingerprints(lab, "host")  # the real host, checked out of band
    port = free_port()
    address = f"127.0.0.1:{port}"
    me = ("--config-dir", str(lab.config("bob")))
    added = lab.run("trust", "add", address, key_fp, "--cert", cert_fp, *me)
    assert added.returncode == 0, added.stderr
    assert cert_fp in added.stdout.decode()
    impostor = Impostor(lab.config("impostor"), port)  # another certificate at the address
    try:
        env = cli_env(SEVERUS_SECRET="open sesame")
        bob = lab.spawn("join", address, "--nick", "bob", "--secret", *me, env=env)
        bob.expect(r"REMOTE HOST CERTIFICATE HAS CHANGED", timeout=30)
        assert bob.wait_exit(30) == 4
        assert impostor.closed.wait(30)
        assert bytes(impostor.received) == b"", "a Noise message reached the impostor"
    finally:
        impostor.close()


def test_trust_add_without_cert_says_so_and_the_first_join_pins_it(lab: Lab) -> None:
    key_fp, cert_fp = _host_fingerprints(lab, "host")
    env = cli_env(SEVERUS_SECRET="open sesame")
    ana = lab.host("ana", "--secret", env=env)
    me = ("--config-dir", str(lab.config("bob")))
    added = lab.run("trust", "add", ana.address, key_fp, *me)
    assert added.returncode == 0, added.stderr
    assert "No certificate is pinned yet" in added.stdout.decode()
    bob = lab.spawn("join", ana.address, "--nick", "bob", "--secret", *me, env=env)
    bob.expect(r"pinned without its certificate")
    bob.expect(r"Welcome, bob!")
    bob.type("/quit")
    assert bob.wait_exit() == 0
    stored = json.loads((lab.config("bob") / "known_hosts.json").read_text())
    assert stored["hosts"][ana.address]["cert"] == cert_fp


def test_join_with_corrupt_known_peers_says_so_and_keeps_the_file(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.config("bob")
    bob.mkdir(mode=0o700, exist_ok=True)
    (bob / "known_peers.json").write_bytes(b'{"version": 1, "hosts": {')
    term = lab.join(host, "bob", welcome=False)
    term.expect(r"known peers are not checked this time:")
    term.expect(r"unreadable")
    term.expect(r"Welcome, bob!")
    term.type("/quit")
    assert term.wait_exit() == 0
    # Whatever it held is not overwritten: the user can still repair it by hand.
    assert (bob / "known_peers.json").read_bytes() == b'{"version": 1, "hosts": {'
