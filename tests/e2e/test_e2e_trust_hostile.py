"""A host that lies about bob's key, against a careless or careful user, with real processes.

The host is the real one patched to hand out its own key for bob (evil_host/evil_swap.py);
cy is an unmodified ``severus join`` on a terminal.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from tests.e2e.lab import cli_env
from tests.e2e.test_e2e_peer_keys import CHANGED, EVIL, EVIL_FP, _relays_to_bob, _turn_evil

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_accept_before_verify_is_refused_and_nothing_goes_to_the_key(lab: Lab) -> None:
    honest = lab.host("ana")
    lab.bot(honest, "bob")
    cy = lab.join(honest, "cy")  # pins bob's real key
    cy.type("/quit")
    assert cy.wait_exit() == 0
    log = lab.root / "relays-to-bob.jsonl"
    evil = _turn_evil(lab, honest, log)
    evil.expect(r"\* bob joined", timeout=30)
    cy = lab.join(evil, "cy", accept_new=False)
    cy.expect_exact(CHANGED)
    cy.type("/accept bob")  # the careless user skips the comparison
    cy.expect(r"not accepted: first /verify bob")
    cy.type("/msg bob still private?")
    cy.expect(r"not encrypted to bob")
    cy.type("/quit")
    assert cy.wait_exit() == 0
    assert _relays_to_bob(log, "cy") == []  # the session is over: all it sent was handled


def test_whois_shows_the_key_in_use_not_what_the_host_claims_there(lab: Lab) -> None:
    """A host that gives bob its own key in the roster but bob's real one in /whois:
    a user checking /whois against bob's real fingerprint must not be reassured."""
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE="swap", EVIL_VICTIM="bob", EVIL_HONEST_WHOIS="1")
    evil = lab.host("ana", env=env)
    lab.bot(evil, "bob")
    real_fp = lab.fingerprint(lab.config("bob"))
    cy = lab.join(evil, "cy")  # first sight: bob's key (the host's) is pinned quietly
    mark = cy.mark()
    cy.type("/whois bob")
    cy.expect(re.escape(f"bob: fingerprint {EVIL_FP}"))  # the key used for bob
    cy.expect(r"compare that one \(/verify bob\)")
    shown = " ".join(cy.text_since(mark).split())
    assert f"the host's /whois reply gives bob the key {real_fp}" in shown, shown
    cy.type("/quit")
    assert cy.wait_exit() == 0


def test_a_member_the_host_lets_in_unseen_gets_no_key(lab: Lab) -> None:
    """The host marks eve's every ``joined`` quiet (as a send-only connection's), so no
    screen shows her arrive: then no key of cy's may go to her, in #rust or the lobby."""
    log = lab.root / "relays-to-eve.jsonl"
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE="ghost", EVIL_VICTIM="eve", EVIL_LOG=str(log))
    evil = lab.host("ana", env=env)
    cy = lab.join(evil, "cy")
    cy.type("/join rust")
    cy.expect(r"Now talking in #rust")
    eve = lab.bot(evil, "eve")
    eve.write_line("/join rust")
    eve.wait_json(event="room", room="rust")
    cy.type("for the room only")
    cy.expect(r"\[cy\] for the room only")
    cy.type("/part")
    cy.type("for the lobby only")
    cy.expect(r"\[cy\] for the lobby only")
    cy.type("/quit")
    assert cy.wait_exit() == 0
    eve.wait_json(event="leave", nick="cy")  # the host handled all cy sent
    assert "eve joined" not in cy.text  # unseen, as the host wanted
    assert _relays_to_bob(log, "cy") == [], "cy handed the unseen eve a key"


def test_the_hosts_own_chat_keeps_a_participants_pin(lab: Lab) -> None:
    """Another identity taking bob's nick while bob is away: the host's own chat warns
    and hands it nothing; what the host says then never becomes readable to it."""
    ana = lab.host("ana")
    bob = lab.bot(ana, "bob")
    ana.expect(r"\* bob joined")
    bob.kill()
    ana.expect(r"\* bob left")
    impostor = lab.piped(
        "join",
        ana.address,
        "--nick",
        "bob",
        "--accept-new",
        "--json",
        "--config-dir",
        str(lab.config("impostor")),
        name="impostor",
    )
    impostor.wait_json(event="welcome")
    ana.expect_exact(CHANGED)
    ana.type("only for the trusted")
    ana.expect(r"not encrypted to bob")
    seen = impostor.json_until(  # the message is held for its key, which never comes
        lambda e: e.get("event") == "notice" and "its key never arrived" in e.get("text", ""),
        timeout=30,
    )
    assert not [e for e in seen if e.get("text") == "only for the trusted"], seen


def test_send_gives_up_on_a_host_that_never_answers(lab: Lab) -> None:
    """``send --room`` learns the room's members before handing out its key, and waits
    for each line's acknowledgement; a host that never answers must not hang the
    script: it fails (exit 5) within its 15 s deadline."""
    env = cli_env(PYTHONPATH=EVIL, EVIL_HOST_MODE="mute", EVIL_MUTE="names,seal")
    evil = lab.host("ana", env=env)
    started = time.monotonic()
    result = lab.send(evil, b"anyone?\n", "--room", "rust", "--accept-new")
    assert result.returncode == 5, result.stderr
    assert "who is in #rust" in result.stderr.decode(), result.stderr
    assert time.monotonic() - started < 45  # the 15 s deadline, with room for start-up
    # Nor does a host that takes a line and never acknowledges it.
    started = time.monotonic()
    result = lab.send(evil, b"hello?\n")
    assert result.returncode == 5, result.stderr
    assert "not acknowledged within 15 s" in result.stderr.decode(), result.stderr
    assert time.monotonic() - started < 45
