"""How events look: familiar conventions, and nothing a peer sends can act on the screen."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from severus_cli.core.client import events as ev
from severus_cli.ui.render import (
    NICK_PALETTE,
    hhmm,
    human_duration,
    human_rate,
    is_alert,
    json_line,
    make_console,
    nick_color,
    render,
    to_json,
)

TS = 1_700_000_000.0
SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(event: ev.UiEvent, own: str = "bob", room: str = ev.LOBBY) -> str:
    return render(event, own_nick=own, current_room=room, timestamp=lambda _: "").plain


def ansi(text: Text, *, no_color: bool = False) -> str:
    console = Console(
        file=io.StringIO(),
        force_terminal=True,
        color_system="256",
        no_color=no_color,
        width=200,
        highlight=False,
        markup=False,
    )
    with console.capture() as capture:
        console.print(text)
    return capture.get()


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        (ev.ChatMessage(TS, "ana", "lobby", "hello"), "ana: hello"),
        (ev.ChatMessage(TS, "bob", "lobby", "hello", own=True), "[bob] hello"),
        (ev.ChatMessage(TS, "ana", "lobby", "waves", action=True), "** ana waves"),
        (ev.ChatMessage(TS, "bob", "lobby", "waves", action=True, own=True), "** bob waves"),
        (ev.ChatMessage(TS, "ana", "rust", "hi"), "#rust ana: hi"),
        (ev.ChatMessage(TS, "bob", "rust", "hi", own=True), "#rust [bob] hi"),
        (ev.DirectMessage(TS, "ana", "hi"), "[PM from ana] hi"),
        (ev.DirectMessage(TS, "ana", "hi", own=True), "[PM to ana] hi"),
        (ev.DirectMessage(TS, "ana", "waves", action=True), "[PM from ana] ** ana waves"),
        (ev.Joined(TS, "bob", "lobby", 3), " * bob joined. (Connected: 3)"),
        (ev.Joined(TS, "bob", "rust", 3), " * bob joined #rust (3 here)"),
        (ev.Left(TS, "bob", "lobby", 2, "timed out"), " * bob left. (timed out)"),
        (ev.Left(TS, "bob", "lobby", 2), " * bob left. (Connected: 2)"),
        (ev.Left(TS, "bob", "rust", 2), " * bob left #rust (2 here)"),
        (ev.Left(TS, "bob", "rust", 2, "bye"), " * bob left #rust (bye; 2 here)"),
        (ev.Notice(TS, "saved"), "-> saved"),
        (ev.Notice(TS, "careful", "warn"), "-> careful"),
        (
            ev.Welcome(TS, "bob", "ana", ("cron", "bob", "ana")),
            "-> Welcome, bob! Host: ana. 3 in lobby: ana, bob, cron. Type /help for commands.",
        ),
        (ev.RoomChanged(TS, "rust", ("bob", "ana")), "-> Now talking in #rust (2 here: ana, bob)"),
        (ev.RoomChanged(TS, "lobby", ()), "-> Now talking in the lobby."),
        (ev.UserList(TS, "lobby", ("cron", "Bob", "ana")), "-> 3 in lobby: ana, Bob, cron"),
        (ev.UserList(TS, "rust", ()), "-> Nobody in #rust."),
        (ev.RoomList(TS, (("rust", 2), ("lobby", 5))), "-> 2 rooms: lobby (5), #rust (2)"),
        (
            ev.WhoisInfo(TS, "ana", "SHA256:abc", ("lobby", "rust"), 303),
            "-> ana: fingerprint SHA256:abc, in lobby, #rust, connected for 5m 3s",
        ),
        (ev.PingResult(TS, 1.2345), "-> pong: 1.23 ms"),
        (
            ev.HostStats(TS, 3, 1, 1536, 100, 7260),
            "-> host: 3 clients, 1 room, in 1.5 KiB/s, out 100 B/s, up 2h 1m",
        ),
        (ev.Disconnected(TS, "host shut down"), "-> Disconnected: host shut down"),
        (ev.Disconnected(TS, ""), "-> Disconnected."),
    ],
)
def test_conventions(event: ev.UiEvent, shown: str) -> None:
    assert plain(event) == shown


def test_timestamp_is_local_hhmm_and_dim() -> None:
    ts = time.mktime((2024, 1, 2, 13, 5, 0, 0, 0, -1))
    line = render(ev.ChatMessage(ts, "ana", "lobby", "hi"), own_nick="bob")
    assert line.plain == "13:05 ana: hi"
    assert hhmm(float("nan")) == "--:--" and hhmm(1e300) == "--:--"
    assert "\x1b[2m13:05" in ansi(line)


def test_markup_and_escapes_are_shown_not_obeyed() -> None:
    text = "[bold red]x[/] \x1b[2J\x1b]0;pwned\x07 :smile: 42"
    line = render(ev.ChatMessage(TS, "[b]ana", "lobby", text), own_nick="bob", timestamp=hhmm)
    assert line.plain.endswith("[b]ana: [bold red]x[/] \\x1b[2J\\x1b]0;pwned\\x07 :smile: 42")
    out = ansi(line)
    assert "[bold red]x[/]" in out and ":smile:" in out
    assert SGR.sub("", out).rstrip("\n") == line.plain  # only colour codes were added


def test_multiline_continuation_lines_align_under_text() -> None:
    shown = plain(ev.ChatMessage(TS, "ana", "rust", "first\nsecond\n\n"))
    assert shown == "#rust ana: first\n           second"


def test_nick_colour_is_stable_across_processes() -> None:
    assert nick_color("Ana") == nick_color("ana") in NICK_PALETTE
    assert not {"black", "white", "bright_black", "bright_white"} & set(NICK_PALETTE)
    assert len(NICK_PALETTE) >= 10
    assert len({nick_color(n) for n in ("ana", "bob", "cron", "dave", "eve", "fay")}) > 2
    code = "from severus_cli.ui.render import nick_color; print(nick_color('ana'))"
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            cwd=str(__import__("pathlib").Path(__file__).parents[1]),
        )
        assert out.stdout.strip() == nick_color("ana")


def test_other_nicks_coloured_own_bold_dm_magenta() -> None:
    other = ansi(render(ev.ChatMessage(TS, "ana", "lobby", "x"), own_nick="bob"))
    assert any(f"\x1b[{c}m" in other or f";{c}m" in other for c in range(31, 97))
    own = ansi(render(ev.ChatMessage(TS, "bob", "lobby", "x", own=True), own_nick="bob"))
    assert "\x1b[1m[" in own
    dm = ansi(render(ev.DirectMessage(TS, "ana", "x"), own_nick="bob"))
    assert "35m[PM from " in dm


def test_mentions_ring_and_highlight() -> None:
    said = ev.ChatMessage(TS, "ana", "lobby", "thanks, Bob.")
    assert is_alert(said, "bob")
    assert not is_alert(ev.ChatMessage(TS, "ana", "lobby", "bobby and bob-x"), "bob")
    assert not is_alert(ev.ChatMessage(TS, "bob", "lobby", "bob", own=True), "bob")
    assert is_alert(ev.DirectMessage(TS, "ana", "psst"), "bob")
    assert not is_alert(ev.DirectMessage(TS, "ana", "psst", own=True), "bob")
    assert not is_alert(ev.Joined(TS, "bob", "lobby", 1), "bob")
    assert "7" in ansi(render(said, own_nick="bob")).split("ana")[0]  # reverse video nick


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (42.9, "42s"), (303, "5m 3s"), (300, "5m"), (3660, "1h 1m"), (90000, "1d 1h")],
)
def test_human_duration(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(0, "0 B/s"), (1023, "1023 B/s"), (1536, "1.5 KiB/s"), (5 * 2**20, "5.0 MiB/s")],
)
def test_human_rate(rate: float, shown: str) -> None:
    assert human_rate(rate) == shown


def test_json_keeps_text_exactly() -> None:
    event = ev.ChatMessage(TS, "ana", "lobby", "a\x1b[31m\u202eb\ud800", action=True)
    line = json_line(event)
    assert line.isascii() and "\n" not in line
    assert json.loads(line) == {
        "event": "message",
        "ts": TS,
        "sender": "ana",
        "room": "lobby",
        "text": "a\x1b[31m\u202eb\ud800",
        "action": True,
        "own": False,
    }
    rooms = to_json(ev.RoomList(TS, (("rust", 2),)))
    assert rooms == {"event": "rooms", "ts": TS, "rooms": [{"name": "rust", "count": 2}]}
    assert to_json(ev.PingResult(float("nan"), 1.0))["ts"] is None


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_plain_when_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    line = render(ev.DirectMessage(TS, "ana", "x " * 100), own_nick="bob")
    make_console(out).print(line)
    assert "\x1b" not in out.getvalue()
    assert out.getvalue() == line.plain + "\n"  # not re-wrapped either


def test_console_honours_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    line = render(ev.DirectMessage(TS, "ana", "hi"), own_nick="bob")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = FakeTty()
    make_console(coloured).print(line)
    assert "35m" in coloured.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    colourless = FakeTty()
    make_console(colourless).print(line)
    assert not re.search(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])m", colourless.getvalue())
    assert SGR.sub("", colourless.getvalue()).strip() == line.plain


names = st.text(max_size=40)
floats = st.floats(allow_nan=True, allow_infinity=True)
any_event = st.one_of(
    st.builds(ev.ChatMessage, floats, names, names, st.text(), st.booleans(), st.booleans()),
    st.builds(ev.DirectMessage, floats, names, st.text(), st.booleans(), st.booleans()),
    st.builds(ev.Joined, floats, names, names, st.integers()),
    st.builds(ev.Left, floats, names, names, st.integers(), st.text()),
    st.builds(ev.Notice, floats, st.text(), st.sampled_from(["info", "warn", "error"])),
    st.builds(ev.Welcome, floats, names, names, st.lists(names).map(tuple)),
    st.builds(ev.RoomChanged, floats, names, st.lists(names).map(tuple)),
    st.builds(ev.UserList, floats, names, st.lists(names).map(tuple)),
    st.builds(ev.RoomList, floats, st.lists(st.tuples(names, st.integers())).map(tuple)),
    st.builds(ev.WhoisInfo, floats, names, st.text(), st.lists(names).map(tuple), floats),
    st.builds(ev.PingResult, floats, floats),
    st.builds(ev.HostStats, floats, st.integers(), st.integers(), floats, floats, floats),
    st.builds(ev.Disconnected, floats, st.text()),
)


def _acts(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch != "\n" and (
        cat in {"Cc", "Cs", "Zl", "Zp"} or (cat == "Cf" and ch not in "\u200c\u200d")
    )


@given(any_event, names)
def test_any_event_renders_safely(event: ev.UiEvent, own: str) -> None:
    line = render(event, own_nick=own, current_room="rust")
    assert not any(_acts(ch) for ch in line.plain)
    out = ansi(line)
    assert not any(_acts(ch) for ch in SGR.sub("", out))
    json.loads(json_line(event))


@given(names, names, st.text(), st.booleans(), st.booleans())
def test_any_chat_message_keeps_text_visible(
    sender: str, room: str, text: str, action: bool, own: bool
) -> None:
    line = render(ev.ChatMessage(TS, sender, room, text, action, own), own_nick="bob")
    assert "\x1b" not in line.plain
    assert not [s for s in line.spans if isinstance(s.style, str) and s.style.startswith("link")]
    assert json.loads(json_line(ev.ChatMessage(TS, sender, room, text)))["text"] == text
