"""/nick on real processes: everyone hears it, the key (and so end-to-end encryption
and /reply) follows the person to the new nick, and a taken nick is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Term

Trio = tuple["Lab", "Host", "Term", "Term"]


def test_nick_changes_keep_the_person(trio: Trio) -> None:
    _lab, ana, bob, cy = trio
    bob.type("/nick robert")
    bob.expect(r"-> You are now robert\.")
    ana.expect(r" \* bob is now robert\.")
    cy.expect(r" \* bob is now robert\.")

    bob.say("hello as robert", "robert")
    ana.expect(r"\d\d:\d\d robert: hello as robert\n")
    cy.expect(r"\d\d:\d\d robert: hello as robert\n")

    cy.type("/msg robert private-after-rename")
    bob.expect(r"\[PM from cy\] private-after-rename")

    cy.type("/nick ana")
    cy.expect(r"cannot be ana: the nick ana is taken")
    cy.type("/nick cyril")
    cy.expect(r"-> You are now cyril\.")
    bob.expect(r" \* cy is now cyril\.")
    # /reply follows cy to the new nick.
    bob.type("/reply answer-to-cyril")
    cy.expect(r"\[PM from robert\] answer-to-cyril")

    ana.type("/users")
    ana.expect(r"-> 3 in lobby: ana, cyril, robert\n")
    ana.type("/whois robert")
    ana.expect(r"-> robert: fingerprint SHA256:")
    # A later line reaches everyone, so nothing above warned about a key.
    cy.say("sentinel-line", "cyril")
    ana.expect(r"cyril: sentinel-line")
    bob.expect(r"cyril: sentinel-line")
    for term in (ana, bob, cy):
        assert "WARNING" not in term.text and "could not be decrypted" not in term.text
