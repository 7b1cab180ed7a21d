"""Piped lines are handled in order: a command's answer arrives before the next line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_json_bot_lines_follow_its_commands(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    bob.type("/join ops")
    bob.expect(r"Now talking in #ops")
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
    bot.wait_json(event="welcome")
    # All at once, in one write: nothing waits between the lines but the bot itself.
    assert bot.proc.stdin is not None
    bot.proc.stdin.write(b"/join ops\nfor ops\n/leave\nback in the lobby\n/users\nlast\n")
    bot.proc.stdin.flush()
    for_ops = bot.wait_json(event="message", sender="bot", text="for ops")
    assert for_ops["room"] == "ops", for_ops
    lobby = bot.wait_json(event="message", sender="bot", text="back in the lobby")
    assert lobby["room"] == "lobby", lobby
    users = bot.wait_json(event="users")
    assert users["room"] == "lobby", users
    last = bot.wait_json(event="message", sender="bot", text="last")
    assert last["room"] == "lobby", last
    bob.expect(r"bot: for ops")
    ana.expect(r"bot: back in the lobby")
    ana.expect(r"bot: last")
    bot.close_stdin()
    assert bot.wait_exit() == 0
