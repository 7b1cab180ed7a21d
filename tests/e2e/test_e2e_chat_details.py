"""Everyday chat details, on real processes: lines from another room (the lobby too)
carry its label, /quit REASON reaches the others, /ticket prints the ticket again,
and the small replies (/verify yourself, /join #, /stats against /rooms) say the
right thing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Term

Trio = tuple["Lab", "Host", "Term", "Term"]


def test_lines_from_elsewhere_are_labelled_and_quit_reasons_are_heard(trio: Trio) -> None:
    _lab, ana, bob, cy = trio
    bob.type("/join #dev")
    bob.expect(r"-> Now talking in #dev")
    cy.type("/join #dev")
    cy.expect(r"-> Now talking in #dev")
    bob.expect(r" \* cy joined #dev")

    ana.say("lobby-line-1", "ana")
    # In #dev, the lobby's line says where it was said, so nobody answers it here.
    bob.expect(r"\d\d:\d\d #lobby ana: lobby-line-1\n")
    cy.expect(r"\d\d:\d\d #lobby ana: lobby-line-1\n")
    cy.say("dev-line-1", "cy")
    bob.expect(r"\d\d:\d\d #dev cy: dev-line-1\n")
    # In the lobby, its own lines need no label; the room's line is not heard at all.
    ana.say("lobby-line-2", "ana")
    bob.expect(r"#lobby ana: lobby-line-2\n")
    assert re.search(r"\d\d:\d\d \[ana\] lobby-line-1\n", ana.text)
    assert "#lobby" not in ana.text and "dev-line-1" not in ana.text

    cy.type("/quit off to lunch")
    assert cy.wait_exit() == 0
    bob.expect(r" \* cy left #dev \(quit: off to lunch; 1 here\)")
    bob.expect(r" \* cy left\. \(quit: off to lunch\)")
    ana.expect(r" \* cy left\. \(quit: off to lunch\)")


def test_ticket_is_shown_again_to_the_host_and_to_ticket_joiners(lab: Lab) -> None:
    ana = lab.host("ana")  # waits for the host's welcome
    ticket = ticket_in(ana.text)

    mark = ana.mark()
    ana.type("/ticket")
    ana.expect(r"This host's ticket \(friends join with: severus join TICKET --nick NAME\):")
    ana.type("/ping")  # shown after the whole ticket: a later line to wait for
    ana.expect(r"-> pong: ")
    assert ticket in "".join(ana.text_since(mark).split())

    dan = lab.join(ticket, "dan", accept_new=False)
    mark = dan.mark()
    dan.type("/ticket")
    dan.expect(r"The ticket you joined with")
    dan.type("/ping")
    dan.expect(r"-> pong: ")
    assert ticket in "".join(dan.text_since(mark).split())

    bob = lab.join(ana, "bob")  # by address: there is no ticket to show
    bob.type("/ticket")
    bob.expect(r"You joined by address, so there is no ticket here")
    assert "/kick" not in bob.text


def test_small_replies_say_the_right_thing(trio: Trio) -> None:
    _lab, ana, bob, _cy = trio
    bob.type("/verify bob")
    bob.expect(r"-> bob is you: there is no code to compare with yourself\. Your key is\s+SHA256:")
    bob.type("/join #")
    bob.expect(r"'#' names no room: type a name after the #\. Usage: /join ROOM")
    bob.type("/join #dev")
    bob.expect(r"-> Now talking in #dev")
    ana.type("/rooms")
    ana.expect(r"-> 2 rooms: lobby \(3\), #dev \(1\)")
    ana.type("/stats")
    ana.expect(r"-> host: 3 clients, 2 rooms, in ")
    assert "no spaces" not in bob.text
