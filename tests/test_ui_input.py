"""Typed lines become intents the way irssi and ssh-chat fingers expect."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from severus_cli.ui import input as cmd
from severus_cli.ui.completion import ChatCompleter
from severus_cli.ui.input import help_lines, parse_line


@pytest.mark.parametrize(
    ("line", "intent"),
    [
        ("hello", cmd.Say("hello")),
        ("  spaced  ", cmd.Say("  spaced  ")),
        ("//etc/passwd is a file", cmd.Say("/etc/passwd is a file")),
        ("/me waves", cmd.Say("waves", action=True)),
        ("/ME  waves hard", cmd.Say("waves hard", action=True)),
        ("/msg ana hi there", cmd.Direct("ana", "hi there")),
        ("/query @ana hi", cmd.Direct("ana", "hi")),
        ("/m ana  hi", cmd.Direct("ana", "hi")),
        ("/msg ana /me waves", cmd.Direct("ana", "waves", action=True)),
        ("/msg ana line1\nline2", cmd.Direct("ana", "line1\nline2")),
        ("/users", cmd.ListUsers()),
        ("/names", cmd.ListUsers()),
        ("/who", cmd.ListUsers()),
        ("/rooms", cmd.ListRooms()),
        ("/list", cmd.ListRooms()),
        ("/join #rust", cmd.JoinRoom("rust")),
        ("/join rust", cmd.JoinRoom("rust")),
        ("/leave", cmd.LeaveRoom()),
        ("/part", cmd.LeaveRoom()),
        ("/whois ana", cmd.Whois("ana")),
        ("/ping", cmd.Ping()),
        ("/stats", cmd.Stats()),
        ("/help", cmd.Help()),
        ("/help /JOIN", cmd.Help("join")),
        ("/clear", cmd.Clear()),
        ("/quit", cmd.Quit()),
        ("/exit", cmd.Quit()),
        ("/q", cmd.Quit()),
        ("/Quit\n", cmd.Quit()),
    ],
)
def test_parse(line: str, intent: cmd.Intent) -> None:
    assert parse_line(line) == intent


@pytest.mark.parametrize("line", ["", "   ", "\n", "\t"])
def test_blank_lines_do_nothing(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    ("line", "usage"),
    [
        ("/msg", "/msg NICK TEXT"),
        ("/msg ana", "/msg NICK TEXT"),
        ("/me", "/me TEXT"),
        ("/me   ", "/me TEXT"),
        ("/join", "/join ROOM"),
        ("/join #", "/join ROOM"),
        ("/join two words", "/join ROOM"),
        ("/whois", "/whois NICK"),
        ("/reply hi", ""),
    ],
)
def test_missing_arguments_give_usage(line: str, usage: str) -> None:
    intent = parse_line(line)
    assert isinstance(intent, cmd.BadCommand)
    assert usage in intent.message


def test_reply_goes_to_last_dm_peer() -> None:
    assert parse_line("/r thanks", reply_to="ana") == cmd.Direct("ana", "thanks")
    assert isinstance(parse_line("/reply", reply_to="ana"), cmd.BadCommand)


def test_unknown_commands_suggest() -> None:
    intent = parse_line("/jion #rust")
    assert isinstance(intent, cmd.UnknownCommand)
    assert intent.command == "jion"
    assert "/join" in intent.message and "/help" in intent.message
    nothing = parse_line("/ hello")
    assert isinstance(nothing, cmd.UnknownCommand) and "//" in nothing.message


def test_help_lists_every_command_and_marks_stats() -> None:
    text = "\n".join(help_lines())
    for name in ("/msg", "/me", "/users", "/rooms", "/join", "/leave", "/whois", "/ping"):
        assert name in text
    for name in ("/help", "/quit", "/stats", "/clear", "/query", "/names", "/part", "//"):
        assert name in text
    stats = next(line for line in help_lines() if "/stats" in line)
    assert "host:" in stats and "joiner: paths taken and when" in stats  # the path history
    assert help_lines("join")[0].startswith("/join ROOM")
    assert "Unknown" in help_lines("nope")[0]


@given(st.text())
def test_parse_never_raises(line: str) -> None:
    parse_line(line)
    parse_line("/" + line)
    parse_line("/msg " + line, reply_to="ana")


@given(st.text(min_size=1).filter(lambda s: not s.startswith("/") and s.strip()))
def test_plain_text_is_said_unchanged(text: str) -> None:
    assert parse_line(text) == cmd.Say(text.rstrip("\r\n"))


def completions(text: str, nicks: list[str], rooms: list[str] | None = None) -> list[str]:
    completer = ChatCompleter(lambda: nicks, (lambda: rooms) if rooms is not None else None)
    doc = Document(text, len(text))
    return [
        c.text for c in completer.get_completions(doc, CompleteEvent(completion_requested=True))
    ]


def test_completion() -> None:
    nicks = ["ana", "Anatole", "bob"]
    assert completions("/jo", nicks) == ["/join "]
    assert completions("/q", nicks) == ["/q ", "/query ", "/quit "]
    assert completions("an", nicks) == ["ana: ", "Anatole: "]
    assert completions("hi b", nicks) == ["bob"]
    assert completions("/msg A", nicks) == ["ana", "Anatole"]
    assert completions("/join #ru", nicks, ["rust", "ruby", "go"]) == ["#ruby", "#rust"]
    assert completions("hi zed", nicks) == []
