"""The host moderates: /kick, /ban by key, /bans, /unban, --allow, and the join secret."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.e2e.attack import assert_no_traceback
from tests.e2e.lab import cli_env

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Term

Trio = tuple["Lab", "Host", "Term", "Term"]
REJECTED = 6
_TICKET = re.compile(r"\b(sev[a-z2-7]{60,})\b")


def _join(lab: Lab, target: str, nick: str, *extra: str, config: str, secret: str = "") -> Term:
    args = ["join", target, "--nick", nick, "--config-dir", str(lab.config(config)), *extra]
    env = cli_env(SEVERUS_SECRET=secret) if secret else None
    return lab.spawn(*args, "--accept-new", name=f"join {nick}", env=env)


def test_kick_ban_bans_unban(trio: Trio) -> None:
    lab, ana, bob, cy = trio

    ana.type("/kick bob mind your manners")
    ana.expect(r"-> kicked bob")
    bob.expect(r"kicked by the host: mind your manners")
    assert bob.wait_exit() == REJECTED
    assert "reconnecting" not in bob.text
    cy.expect(r" \* bob left\. \(kicked by the host: mind your manners\)")

    bob = lab.join(ana, "bob")  # a kick is not a ban
    cy.expect(r" \* bob joined\.")

    ana.type("/ban bob 10m spamming")
    ana.expect(r"-> banned bob \(SHA256:\S+\), 10m left")
    bob.expect(r"banned from this host: spamming")
    assert bob.wait_exit() == REJECTED
    cy.expect(r" \* bob left\. \(banned by the host: spamming\)")

    # The same key under another nick is refused before it can say anything.
    again = _join(lab, ana.address, "bobby", config="bob")
    again.expect(r"banned from this host \((9m \d+s|10m) left\): spamming")
    assert again.wait_exit() == REJECTED

    ana.type("/bans")
    ana.expect(r"-> 1 ban:\n.*-> +bob SHA256:\S+ \((9m \d+s|10m) left\): spamming")
    cy.type("/kick ana")
    cy.expect(r"only the host can /kick, /ban and /unban")
    cy.type("/ban ana")
    cy.expect(r"only the host can")

    ana.type("/unban bob")
    ana.expect(r"-> unbanned bob")
    ana.type("/bans")
    ana.expect(r"-> No bans\.")
    lab.join(ana, "bob")
    cy.expect(r" \* bob joined\.")
    # That join reached cy after any the host could have announced for "bobby".
    assert "bobby joined" not in cy.text
    ana.type("/kick nobody")
    ana.expect(r"nobody else is called nobody")
    assert_no_traceback(ana, cy)


def test_invite_only_host(lab: Lab) -> None:
    lab.run("keygen", "--config-dir", str(lab.config("bob")))
    allowed = lab.fingerprint(lab.config("bob"))
    allow = lab.root / "friends.txt"
    allow.write_text(f"# who may join\n{allowed}  bob\n")
    ana = lab.host("ana", "--allow", str(allow))
    assert "Invite-only: 1 key allowed" in ana.text
    lab.join(ana, "bob")
    stranger = lab.join(ana, "eve", welcome=False)
    stranger.expect(r"invite-only and your key is not on its list")
    assert stranger.wait_exit() == REJECTED

    allow.write_text("not a fingerprint\n")
    broken = lab.run("host", "--allow", str(allow), "--config-dir", str(lab.config("x")))
    assert broken.returncode == 3
    assert f"{allow}, line 1" in broken.stderr.decode()


def test_join_secret(lab: Lab) -> None:
    ana = lab.host("ana", "--secret", env=cli_env(SEVERUS_SECRET="open sesame"))
    assert "Join secret required" in ana.text
    assert "open sesame" not in ana.text  # a secret it was given is not shown
    ticket = _TICKET.search(ana.text)
    assert ticket, ana.text

    stranger = _join(lab, ana.address, "eve", config="eve")
    stranger.expect(r"wrong or missing join secret")
    assert stranger.wait_exit() == REJECTED
    wrong = _join(lab, ana.address, "eve", "--secret", config="eve", secret="guess")
    wrong.expect(r"wrong or missing join secret")
    assert wrong.wait_exit() == REJECTED

    by_address = _join(lab, ana.address, "bob", "--secret", config="bob", secret="open sesame")
    by_address.expect(r"Welcome, bob!")
    by_ticket = _join(lab, ticket.group(1), "cy", config="cy")  # the ticket carries it
    by_ticket.expect(r"Welcome, cy!")
    by_ticket.say("with the secret", "cy")
    by_address.expect(r"cy: with the secret")
    ana.expect(r"cy: with the secret")  # shown after anything the host said of eve
    assert "eve" not in ana.text.split("Welcome, ana!")[-1]

    assert_no_traceback(ana, by_address, by_ticket)
    made = lab.host("dan", "--secret", config="dan")  # no $SEVERUS_SECRET: one is made up
    generated = re.search(r"Generated join secret: (\S+)", made.text)
    assert generated and len(generated.group(1)) >= 20, made.text


def test_join_secret_over_quic(lab: Lab) -> None:
    ana = lab.host("ana", "--mode", "quic", "--secret", env=cli_env(SEVERUS_SECRET="udp too"))
    ticket = _TICKET.search(ana.text)
    assert ticket, ana.text
    stranger = _join(lab, ana.address, "eve", "--mode", "quic", config="eve")
    stranger.expect(r"wrong or missing join secret")
    assert stranger.wait_exit() == REJECTED
    friend = _join(lab, ticket.group(1), "bob", config="bob")
    friend.expect(r"Welcome, bob!")
    friend.say("over quic", "bob")
    ana.expect(r"bob: over quic")
    assert_no_traceback(ana, friend)
