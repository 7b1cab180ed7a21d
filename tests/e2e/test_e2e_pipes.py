"""``severus join`` without a terminal: JSON lines for bots, plain lines for pipes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.e2e.lab import ticket_in

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_json_mode_events_and_input(lab: Lab) -> None:
    ana = lab.host("ana")
    bot = lab.piped(
        "join",
        ana.address,
        "--nick",
        "bot",
        "--accept-new",
        "--json",
        "--config-dir",
        str(lab.config("bot")),
        name="json bot",
    )
    welcome = bot.wait_json(event="welcome")
    assert welcome["nick"] == "bot"
    assert welcome["host"] == "ana"
    assert sorted(welcome["users"]) == ["ana", "bot"]
    assert isinstance(welcome["ts"], float)
    ana.expect(r" \* bot joined\.")

    bob = lab.join(ana, "bob")
    joined = bot.wait_json(event="join", nick="bob")
    assert joined["room"] == "lobby"
    assert joined["count"] == 3

    bob.say("hi bot, <b>&amp; [bold]x[/]", "bob")
    message = bot.wait_json(event="message", sender="bob")
    assert message["text"] == "hi bot, <b>&amp; [bold]x[/]"
    assert message["room"] == "lobby"
    assert message["own"] is False

    bob.type("/msg bot psst")
    dm = bot.wait_json(event="dm")
    assert (dm["peer"], dm["text"], dm["own"]) == ("bob", "psst", False)

    # A line on stdin is said in the lobby.
    bot.write_line("beep from the bot")
    echo = bot.wait_json(event="message", sender="bot")
    assert echo["own"] is True
    assert echo["text"] == "beep from the bot"
    bob.expect(r"bot: beep from the bot")
    ana.expect(r"bot: beep from the bot")

    bob.type("/quit")
    assert bob.wait_exit() == 0
    left = bot.wait_json(event="leave", nick="bob")
    assert left["room"] == "lobby"

    # End of stdin ends the session cleanly.
    bot.close_stdin()
    assert bot.wait_exit() == 0
    ana.expect(r" \* bot left\.")
    for line in bot.stdout:  # every line was one JSON object
        assert isinstance(json.loads(line), dict), line


def test_plain_lines_when_stdout_is_not_a_terminal(lab: Lab) -> None:
    ana = lab.host("ana")
    reader = lab.piped(
        "join",
        ana.address,
        "--nick",
        "pipe",
        "--accept-new",
        "--config-dir",
        str(lab.config("pipe")),
        name="plain join",
    )
    reader.wait_line(r"Welcome, pipe!")
    ana.expect(r" \* pipe joined\.")
    ana.say("hello pipe", "ana")
    reader.wait_line(r"^\d\d:\d\d ana: hello pipe$")

    reader.write_line("piped words")
    ana.expect(r"pipe: piped words")
    reader.wait_line(r"\[pipe\] piped words$")
    reader.write_line("/users")
    reader.wait_line(r"-> 2 in lobby: ana, pipe$")

    reader.close_stdin()
    assert reader.wait_exit() == 0
    out = b"".join(reader.stdout)
    assert b"\x1b" not in out, out
    assert b"\x1b" not in reader.stderr, reader.stderr
    assert b"\r" not in out


def test_join_by_ticket_needs_no_trust_question(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ticket_in(ana.text), "bob", accept_new=False)
    ana.expect(r" \* bob joined\.")
    assert "yes/no" not in bob.text
    bob.say("by ticket", "bob")
    ana.expect(r"bob: by ticket")


def test_ticket_on_stdin_then_messages(lab: Lab) -> None:
    ana = lab.host("ana")
    bot = lab.piped(
        "join", "-", "--nick", "tk", "--json", "--config-dir", str(lab.config("tk")), name="tk"
    )
    bot.write_line(ticket_in(ana.text) + "\nfirst words after the ticket")
    bot.wait_json(event="welcome")
    ana.expect(r"tk: first words after the ticket")
