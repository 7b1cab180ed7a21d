"""QUIC mode end to end: a host announces a ticket, two joiners and a sender use it with no
trust question, and joiners come back by themselves after the host restarts."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_quic_host_ticket_chat_send_and_reconnect(lab: Lab) -> None:
    port = lab.free_port()
    ana = lab.host("ana", "--mode", "quic", port=port)
    assert "QUIC (UDP)" in ana.text
    ticket = ticket_in(ana.text)
    bob = lab.join(ticket, "bob", accept_new=False)  # the ticket is the pin: no question
    cy = lab.join(ticket, "cy", accept_new=False)
    bob.expect(r"connected over direct \(QUIC\)")
    bob.expect(r" \* cy joined\.")
    assert "authenticity" not in bob.text + cy.text

    bob.say("over quic", "bob")
    cy.expect(r"bob: over quic")
    ana.expect(r"bob: over quic")
    bob.type("/msg cy just you")
    cy.expect(r"\[PM from bob\] just you")

    sent = lab.send(ticket, b"one\ntwo\n", nick="cron")
    assert sent.returncode == 0, sent.stderr
    cy.expect(r"cron: one")
    cy.expect(r"cron: two")

    # The host goes away and comes back on the same port with the same identity: the
    # same ticket still works and the joiners reconnect by themselves.
    os.kill(ana.pid, signal.SIGKILL)
    # QUIC has no FIN: the keepalive notices, within 8 s (a busy machine may add some).
    bob.expect(r"reconnecting in", timeout=30)
    ana2 = lab.host("ana", "--mode", "quic", port=port)
    assert ticket_in(ana2.text) == ticket
    # Backoff doubles from 1 s: the attempt after the host is back can come about as long
    # after it as the host took to restart.
    bob.expect(r"reconnected", timeout=30)
    cy.expect(r"reconnected", timeout=30)
    bob.expect(r"Welcome, bob!")
    bob.say("back again", "bob")
    ana2.expect(r"bob: back again")
    cy.expect(r"bob: back again")
