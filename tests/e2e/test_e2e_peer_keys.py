"""A host that hands out its own key for bob gets nothing encrypted to that key.

Everyone first meets the real bob through an honest host and pins his key; then the
same host (same identity, same port) comes back patched to substitute a key it holds
for bob (tests/e2e/evil_host/evil_swap.py), logging every relay addressed to bob. The
participants are real, unmodified ``severus`` processes. "Nothing was encrypted to the
substituted key" is read from that log once the host has shown the sender leave, so
every packet the sender wrote was already handled.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from severus_cli.core.trust.identity_format import fingerprint
from tests.e2e.lab import cli_env

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab

EVIL = str(Path(__file__).resolve().parent / "evil_host")
_EVIL_PRIVATE = X25519PrivateKey.from_private_bytes(hashlib.sha256(b"evil host").digest())
EVIL_FP = fingerprint(_EVIL_PRIVATE.public_key().public_bytes_raw())  # as in evil_swap.py
CHANGED = "BOB'S IDENTITY KEY HAS CHANGED"


def _turn_evil(lab: Lab, honest: Host, log: Path) -> Host:
    """The same host, restarted with a patch that substitutes its own key for bob."""
    honest.kill()
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE="swap", EVIL_VICTIM="bob", EVIL_LOG=str(log))
    return lab.host("ana", port=honest.port, env=env)


def _relays_to_bob(log: Path, sender: str) -> list[str]:
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return [line["kind"] for line in lines if line["from"] == sender]


def _eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (a deadline, not a wait)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_send_refuses_a_substituted_key_and_encrypts_nothing_to_it(lab: Lab) -> None:
    honest = lab.host("ana")
    bob = lab.bot(honest, "bob")
    real_fp = lab.fingerprint(lab.config("bob"))
    first = lab.send(honest, b"hello bob\n", "--to", "bob", "--accept-new")
    assert first.returncode == 0, first.stderr  # pins bob's real key, quietly
    assert bob.wait_json(event="dm", peer="cron")["text"] == "hello bob"

    log = lab.root / "relays-to-bob.jsonl"
    evil = _turn_evil(lab, honest, log)
    bob.wait_json(event="welcome", timeout=30)  # bob comes back by himself
    cy = lab.bot(evil, "cy")
    evil.expect(r"\* cy joined")

    private = lab.send(evil, b"the secret\n", "--to", "bob")
    assert private.returncode == 4, private.stderr
    err = private.stderr.decode()
    assert "bob" in err and real_fp in err and EVIL_FP in err, err
    assert "nothing was encrypted to bob" in err
    assert "severus trust accept-peer" in err

    lobby = lab.send(evil, b"for the lobby\n")
    assert lobby.returncode == 4, lobby.stderr
    err = lobby.stderr.decode()
    assert real_fp in err and EVIL_FP in err and "delivered to the others" in err, err
    seen = cy.json_until(lambda e: e.get("event") == "message" and e.get("sender") == "cron")
    assert seen[-1]["text"] == "for the lobby"

    # Both sessions are over: the host has handled all they wrote. (A send comes and goes
    # with no line on screens; JSON still reports it, marked quiet.)
    ended = [e for e in seen if e.get("event") == "leave" and e.get("nick") == "cron"]
    for _ in range(2 - len(ended)):
        cy.wait_json(event="leave", nick="cron", quiet=True)
    assert _relays_to_bob(log, "cron") == []  # no handshake, no key, no message

    # A script that pinned bob up front with --peer is refused just the same.
    pinned = lab.send(
        evil,
        b"x\n",
        "--to",
        "bob",
        "--accept-new",
        "--peer",
        f"bob={real_fp}",
        nick="cron2",
        config="cron2",
    )
    assert pinned.returncode == 4, pinned.stderr
    assert "given with --peer" in pinned.stderr.decode()
    # known_peers kept the real pin and recorded the substitute as merely offered.
    stored = json.loads((lab.config("cron") / "known_peers.json").read_text())
    entry = stored["hosts"][f"key {evil.fingerprint}"]["bob"]  # one name, however joined
    assert entry["key"] == real_fp and entry["offered"] == EVIL_FP

    # Only an explicit acceptance replaces the pin; then send encrypts to the new key.
    config = ("--config-dir", str(lab.config("cron")))
    unknown = lab.run("trust", "accept-peer", evil.address, "nobody", *config)
    assert unknown.returncode == 2, unknown.stderr
    accepted = lab.run("trust", "accept-peer", evil.address, "bob", EVIL_FP, *config)
    assert accepted.returncode == 0, accepted.stderr
    assert EVIL_FP in accepted.stdout.decode() and real_fp in accepted.stdout.decode()
    after = lab.send(evil, b"now trusted\n", "--to", "bob")
    assert after.returncode == 0, after.stderr
    cy.wait_json(event="leave", nick="cron", quiet=True)
    assert _relays_to_bob(log, "cron")  # the user's choice: it went to the new key


def test_peer_option_pins_the_recipient_for_send(lab: Lab) -> None:
    host = lab.host("ana")
    bob = lab.bot(host, "bob")
    real_fp = lab.fingerprint(lab.config("bob"))
    wrong = lab.send(
        host, b"not for you\n", "--to", "bob", "--accept-new", "--peer", f"bob={EVIL_FP}"
    )
    assert wrong.returncode == 4, wrong.stderr
    assert real_fp in wrong.stderr.decode() and EVIL_FP in wrong.stderr.decode()
    right = lab.send(host, b"pinned hello\n", "--to", "bob", "--peer", f"Bob={real_fp}")
    assert right.returncode == 0, right.stderr
    # The first DM bob ever gets is the second one: the refused line never left.
    assert bob.wait_json(event="dm", peer="cron")["text"] == "pinned hello"
    bad = lab.send(host, b"x\n", "--to", "bob", "--peer", "bob=nonsense")
    assert bad.returncode == 2, bad.stderr


def test_interactive_join_warns_every_session_and_dms_wait_for_accept(lab: Lab) -> None:
    honest = lab.host("ana")
    lab.bot(honest, "bob")
    cy = lab.join(honest, "cy")
    cy.type("/whois bob")
    cy.expect(r"SHA256:")  # cy has met (and pinned) the real bob
    cy.type("/quit")
    assert cy.wait_exit() == 0

    log = lab.root / "relays-to-bob.jsonl"
    evil = _turn_evil(lab, honest, log)
    evil.expect(r"\* bob joined", timeout=30)  # bob reconnected by himself
    for session in range(2):  # loud in every session, not once
        cy = lab.join(evil, "cy", accept_new=False)
        cy.expect_exact(CHANGED)
        cy.expect_exact(EVIL_FP)
        cy.type("/msg bob are you there?")
        cy.expect(r"not encrypted to bob")
        cy.type(f"lobby line {session}")
        cy.expect(r"not encrypted to bob")  # said in each session's first lobby line
        evil.expect(f"lobby line {session}")  # ana read it: cy's keys have all gone out
        assert _relays_to_bob(log, "cy") == []
        if session == 0:
            cy.type("/quit")
            assert cy.wait_exit() == 0
    cy.type("/verify bob")
    cy.expect(r"Safety code with bob")
    cy.type("/accept bob")
    cy.expect(r"accepted bob's new key")
    cy.type("/msg bob now you")
    cy.expect(r"\[PM to bob\] now you")
    assert _eventually(lambda: bool(_relays_to_bob(log, "cy"))), "no session after /accept"
    cy.type("/quit")
    cy.wait_exit()
    # The next session trusts the accepted key quietly.
    again = lab.join(evil, "cy", accept_new=False)
    again.type("/whois bob")
    again.expect(EVIL_FP.replace("+", r"\+"))
    assert CHANGED not in again.text
