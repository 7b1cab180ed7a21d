"""The front ends: a real terminal under tmux, plain line I/O and JSON lines."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import select
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text

from severus_cli.core.client import events as ev
from severus_cli.ui.plain import JsonUI, PlainUI
from tests.needs import require_tool

ROOT = Path(__file__).resolve().parents[1]

TICKER_SCRIPT = """
import asyncio
from rich.text import Text
from severus_cli.core.client.events import ChatMessage
from severus_cli.ui.terminal import TerminalUI

async def main() -> None:
    ui = TerminalUI(lambda: "bob", lambda: ["ana", "cron"], lambda: "[lobby] bob> ")

    async def ticker() -> None:
        n = 0
        while True:
            n += 1
            ui.show_event(ChatMessage(0, "ana", "lobby", f"tick {n} \\x1b[2J[bold]x[/]"))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(ticker())
    async for line in ui.read_lines():
        ui.show(Text(f"got: {line!r}"))
    task.cancel()
    print("EXITED")

asyncio.run(main())
"""


# Holds still at a chosen moment until the test's key has reached the terminal, so the
# key lands exactly where a lost one used to: inside a print above a running prompt
# ("print"), or after Enter and before the next prompt is up ("between"). Then checks
# that the terminal is back in its first mode, also when the reader is abandoned
# mid-way ("quit").
KEY_RACE_SCRIPT = """
import asyncio, select, sys, termios, time
from prompt_toolkit.application.current import get_app_or_none, get_app_session
from rich.text import Text
from severus_cli.ui.terminal import TerminalUI

def hold_for_key() -> None:
    select.select([sys.stdin], [], [], 20)

async def main(mode: str) -> None:
    before = termios.tcgetattr(0)
    ui = TerminalUI(lambda: "bob", lambda: [], lambda: "bob> ")
    output = get_app_session().output
    write, written = output.write, []

    def write_and_hold(data: str) -> None:
        write(data)
        written.append(data)
        if "CUE" in "".join(written[-3:]):
            output.write = write
            output.flush()
            hold_for_key()

    async def cue() -> None:
        deadline = time.monotonic() + 20
        while (app := get_app_or_none()) is None or not app.is_running:
            assert time.monotonic() < deadline, "the prompt never came up"
            await asyncio.sleep(0.01)
        output.write = write_and_hold
        ui.show(Text("CUE"))

    if mode == "print":
        task = asyncio.create_task(cue())
    async for line in ui.read_lines():
        if line == "/quit":
            break
        sys.stdout.write(f"got {line}, CUE\\n")
        sys.stdout.flush()
        hold_for_key()
    ui.close()
    print("EXITED" if termios.tcgetattr(0) == before else "LEFT IN ANOTHER MODE")

asyncio.run(main(sys.argv[1]))
"""


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        command = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def lines(self) -> list[str]:
        return [line for line in self.run("capture-pane", "-p", "-t", "t").splitlines() if line]

    def wait(self, ready: Callable[[list[str]], bool], timeout: float = 8.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if ready(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError("terminal never got there:\n" + "\n".join(lines))
            time.sleep(0.05)


def _ticks(lines: list[str]) -> int:
    return sum("ana: tick" in line for line in lines)


def test_output_scrolls_above_a_half_typed_line(tmp_path: Path) -> None:
    require_tool("tmux", "tmux", why="this test reads a real screen")
    script = tmp_path / "ticker.py"
    script.write_text(TICKER_SCRIPT)
    errors = tmp_path / "stderr"
    env = f"PYTHONPATH={shlex.quote(str(ROOT))}"
    command = (
        f"{env} {shlex.quote(sys.executable)} {shlex.quote(str(script))} "
        f"2>{shlex.quote(str(errors))}; sleep 30"
    )
    tmux = Tmux(f"severus-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmux.run("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", command)
    socket_path = tmux.run("display-message", "-p", "#{socket_path}").strip()
    try:
        tmux.wait(lambda lines: bool(lines) and lines[-1].startswith("[lobby] bob>"))
        tmux.run("send-keys", "-t", "t", "-l", "hello wor")
        typed = tmux.wait(lambda lines: lines[-1] == "[lobby] bob> hello wor")
        # Keep watching while at least five more lines arrive: the input must survive.
        # Each line is printed by erasing the prompt, printing, and drawing the prompt
        # again, so one capture may fall mid-repaint: wait for the prompt to be back.
        lines = tmux.wait(
            lambda lines: (
                (_ticks(lines) >= _ticks(typed) + 5 or len(lines) >= 29)
                and lines[-1] == "[lobby] bob> hello wor"
            )
        )
        assert all("tick" in line for line in lines[:-1])
        assert "\\x1b[2J[bold]x[/]" in lines[-2]  # escapes and markup shown, not obeyed

        tmux.run("send-keys", "-t", "t", "Enter")
        # The line is printed, then the prompt redrawn below it: a capture may fall
        # between the two, so wait for both (and fail if the prompt never comes back).
        lines = tmux.wait(
            lambda lines: (
                any("got: 'hello wor'" in line for line in lines)
                and lines[-1].rstrip() == "[lobby] bob>"
            )
        )
        assert lines[-1].rstrip() == "[lobby] bob>"

        tmux.run("send-keys", "-t", "t", "C-d")
        tmux.wait(lambda lines: "EXITED" in lines)
        assert errors.read_text() == ""
    finally:
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True)
        if socket_path:  # tmux leaves the socket file behind
            Path(socket_path).unlink(missing_ok=True)


@pytest.mark.parametrize("mode", ["print", "between", "quit"])
def test_no_key_is_lost_and_the_terminal_mode_comes_back(tmp_path: Path, mode: str) -> None:
    """Ctrl-D typed while output scrolls, or right after Enter, still quits.

    The terminal used to go cooked for each print above the prompt and between two
    prompts, and the kernel turned a Ctrl-D typed then into a NUL byte. Now it stays
    raw throughout, so it must be given back however reading ends.
    """
    script = tmp_path / "key_race.py"
    script.write_text(KEY_RACE_SCRIPT)
    errors = tmp_path / "stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    master, slave = pty.openpty()
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), mode],
            stdin=slave,
            stdout=slave,
            stderr=stderr,
            env=env,
            start_new_session=True,
        )
    os.close(slave)
    screen = bytearray()

    def wait_for(text: bytes, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in screen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}; the screen: {bytes(screen)!r}"
            if select.select([master], [], [], left)[0]:
                try:
                    screen.extend(os.read(master, 65536))
                except OSError:  # EIO: the program is gone and closed the terminal
                    raise AssertionError(f"ended before {text!r}: {bytes(screen)!r}") from None

    try:
        if mode != "print":
            wait_for(b"bob>")
            os.write(master, b"/quit\r" if mode == "quit" else b"hi\r")
        if mode != "quit":
            wait_for(b"CUE")
            os.write(master, b"\x04")
        wait_for(b"EXITED")
        assert proc.wait(timeout=20) == 0
        assert errors.read_text() == ""
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def test_plain_ui_reads_lines_and_prints_plain_text() -> None:
    read, write = os.pipe()
    out = io.StringIO()
    ui = PlainUI(lambda: "bob", stdin=os.fdopen(read, "rb"), stdout=out)

    async def main() -> list[str]:
        os.write(write, b"hello\r\n/users\nbad \xff byte\nno newline")
        os.close(write)
        return [line async for line in ui.read_lines()]

    assert asyncio.run(main()) == ["hello", "/users", "bad \ufffd byte", "no newline"]
    ui.show_event(ev.DirectMessage(0, "ana", "\x1b[31mhi"))
    ui.show(Text("local", style="bold red"))
    ui.bell()
    assert out.getvalue().split("\n")[0].endswith("[PM from ana] \\x1b[31mhi")
    assert out.getvalue().endswith("\nlocal\n")
    assert "\x1b" not in out.getvalue() and "\a" not in out.getvalue()


def test_plain_ui_close_ends_reading() -> None:
    read, write = os.pipe()
    ui = PlainUI(lambda: "bob", stdin=os.fdopen(read, "rb"), stdout=io.StringIO())

    async def main() -> list[str]:
        asyncio.get_running_loop().call_later(0.05, ui.close)
        return [line async for line in ui.read_lines()]

    try:
        assert asyncio.run(main()) == []
    finally:
        os.close(write)


def test_plain_ui_stops_quietly_on_a_closed_pipe() -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    ui = PlainUI(lambda: "bob", stdin=io.BytesIO(b"late line\n"), stdout=Broken())
    ui.show(Text("x"))

    async def main() -> list[str]:
        return [line async for line in ui.read_lines()]

    assert asyncio.run(main()) == []


def test_json_ui_prints_one_object_per_line() -> None:
    out = io.StringIO()
    ui = JsonUI(lambda: "bob", stdin=io.BytesIO(b"hi\n"), stdout=out)
    ui.show_event(ev.ChatMessage(1.5, "ana", "lobby", "multi\nline \u202e"))
    ui.show(Text("help text"))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "message" and first["text"] == "multi\nline \u202e"
    assert second["event"] == "notice" and second["text"] == "help text"

    async def main() -> list[str]:
        return [line async for line in ui.read_lines()]

    assert asyncio.run(main()) == ["hi"]


def test_on_a_pipe_each_status_is_a_line_of_its_own() -> None:
    plain, raw = io.StringIO(), io.StringIO()
    for ui in (PlainUI(lambda: "bob", stdout=plain), JsonUI(lambda: "bob", stdout=raw)):
        ui.status(lambda: "reconnecting in 1 s")
        ui.status(lambda: "host unreachable (x); retrying in 2 s", "warn")
        ui.status(None)  # nothing to take away on a pipe
    lines = [line.split(" -> ", 1)[1] for line in plain.getvalue().splitlines()]
    assert lines == ["reconnecting in 1 s", "host unreachable (x); retrying in 2 s"]
    events = [json.loads(line) for line in raw.getvalue().splitlines()]
    assert [(e["event"], e["text"], e["level"]) for e in events] == [
        ("notice", "reconnecting in 1 s", "info"),
        ("notice", "host unreachable (x); retrying in 2 s", "warn"),
    ]
