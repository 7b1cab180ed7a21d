"""Chatting on terminals: the lobby, private messages, rooms, nick clashes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Host, Lab, Term

Trio = tuple["Lab", "Host", "Term", "Term"]


def test_lobby_chat_notices_and_users(trio: Trio) -> None:
    _lab, ana, bob, cy = trio
    cy.expect(r"Host: ana\. 3 in lobby: ana, bob, cy\.")

    bob.say("hello from bob", "bob")
    ana.expect(r"\d\d:\d\d bob: hello from bob\n")
    cy.expect(r"\d\d:\d\d bob: hello from bob\n")

    cy.say("cy here", "cy")
    ana.expect(r"cy: cy here\n")
    bob.expect(r"cy: cy here\n")

    ana.say("the host speaks", "ana")
    bob.expect(r"ana: the host speaks\n")
    cy.expect(r"ana: the host speaks\n")

    for term in (ana, bob, cy):
        term.type("/users")
        term.expect(r"-> 3 in lobby: ana, bob, cy\n")

    cy.type("/quit")
    assert cy.wait_exit() == 0
    ana.expect(r" \* cy left\.")
    bob.expect(r" \* cy left\.")
    bob.type("/users")
    bob.expect(r"-> 2 in lobby: ana, bob\n")
    # Nobody saw their own line echoed back as if someone else had said it.
    assert "bob: hello from bob" not in bob.text
    assert "cy: cy here" not in cy.text


def test_private_message_reaches_only_its_recipient(trio: Trio) -> None:
    _lab, ana, bob, cy = trio
    bob.type("/msg cy secret-XYZ")
    bob.expect(r"\[PM to cy\] secret-XYZ")
    cy.expect(r"\[PM from bob\] secret-XYZ")

    # /reply (no nick) goes back to the last sender.
    cy.type("/reply answer-QRS")
    bob.expect(r"\[PM from cy\] answer-QRS")

    # A later lobby line reaches ana, so anything sent before it has arrived too.
    bob.say("marker-after-dm", "bob")
    ana.expect(r"bob: marker-after-dm")
    cy.expect(r"bob: marker-after-dm")
    assert "secret-XYZ" not in ana.text
    assert "answer-QRS" not in ana.text


def test_rooms_join_talk_list_leave(trio: Trio) -> None:
    _lab, ana, bob, cy = trio
    bob.type("/join rust")
    bob.expect(r"Now talking in #rust \(1 here: bob\)")
    cy.type("/join #rust")
    cy.expect(r"Now talking in #rust \(2 here: bob, cy\)")
    bob.expect(r" \* cy joined #rust \(2 here\)")

    bob.say("borrow-checker-talk", "bob")
    cy.expect(r"#rust bob: borrow-checker-talk")

    for term in (ana, bob):
        term.type("/rooms")
        term.expect(r"-> 2 rooms: lobby \(3\), #rust \(2\)")

    # Lobby lines still reach room members.
    ana.say("lobby-while-in-rooms", "ana")
    bob.expect(r"ana: lobby-while-in-rooms")
    cy.expect(r"ana: lobby-while-in-rooms")

    bob.type("/leave")
    bob.expect(r"Now talking in the lobby\.")
    cy.expect(r" \* bob left #rust \(1 here\)")
    bob.say("back-in-lobby", "bob")
    ana.expect(r"bob: back-in-lobby")
    cy.expect(r"bob: back-in-lobby")
    bob.type("/rooms")
    bob.expect(r"-> 2 rooms: lobby \(3\), #rust \(1\)")

    cy.type("/part")
    cy.expect(r"Now talking in the lobby\.")
    ana.type("/rooms")
    ana.expect(r"-> 1 room: lobby \(3\)\n")

    assert "borrow-checker-talk" not in ana.text
    assert not re.search(r"joined #rust|left #rust", ana.text)


def test_taken_nick_is_refused(lab: Lab) -> None:
    ana = lab.host("ana")
    lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    mark = ana.mark()
    for clash in ("bob", "BOB", "ana", "Ana"):
        other = lab.join(ana, clash, config="other", welcome=False)
        other.expect(r"taken")
        assert other.wait_exit() == 6, other.text
        assert "Welcome" not in other.text
    # Without a terminal (a bot): the same refusal and exit code, whatever stdin does.
    for extra in ((), ("--json",)):
        bot = lab.piped(
            "join",
            ana.address,
            "--nick",
            "Bob",
            "--accept-new",
            *extra,
            "--config-dir",
            str(lab.config("other")),
            name="piped clash",
        )
        assert bot.wait_exit() == 6, bot.stderr.decode(errors="replace")
        assert b"taken" in bot.stderr
        assert b"Fatal Python error" not in bot.stderr
        bot.close_stdin()
    assert "joined" not in ana.text_since(mark)


def test_quit_does_not_blame_the_host(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    bob.type("/quit")
    assert bob.wait_exit() == 0
    ana.expect(r" \* bob left\. \(quit\)")
    assert "Disconnected" not in bob.text
