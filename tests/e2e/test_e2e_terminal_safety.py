"""Hostile text from a peer is shown literally on a real terminal (tmux), in colour."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.lab import TIMEOUT

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

_TOKEN = re.compile(r"\x1b\[([0-9;:]*)m|\x1b\[[0-?]*[ -/]*[@-~]|(.)", re.DOTALL)
_RED = {"31", "91", "38;5;1", "38;5;9"}


@dataclass
class Cell:
    char: str
    fg: str = ""
    bold: bool = False
    reverse: bool = False


@dataclass
class StyledLine:
    """One line of ``capture-pane -e`` with the SGR state of every visible character."""

    cells: list[Cell] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c.char for c in self.cells)

    def at(self, needle: str) -> list[Cell]:
        start = self.text.index(needle)
        return self.cells[start : start + len(needle)]


def parse_styled(line: str) -> StyledLine:
    out = StyledLine()
    fg, bold, reverse = "", False, False
    for found in _TOKEN.finditer(line):
        params, char = found.group(1), found.group(2)
        if char is not None:
            out.cells.append(Cell(char, fg, bold, reverse))
            continue
        if params is None:
            continue  # some other escape: no style
        codes = params.replace(":", ";").split(";") if params else ["0"]
        i = 0
        while i < len(codes):
            code = codes[i]
            if code in ("", "0"):
                fg, bold, reverse = "", False, False
            elif code == "1":
                bold = True
            elif code == "22":
                bold = False
            elif code == "7":
                reverse = True
            elif code == "27":
                reverse = False
            elif code == "39":
                fg = ""
            elif code in ("38",) and i + 2 < len(codes) and codes[i + 1] == "5":
                fg = f"38;5;{codes[i + 2]}"
                i += 2
            elif code == "38" and i + 4 < len(codes) and codes[i + 1] == "2":
                fg = "38;2;" + ";".join(codes[i + 2 : i + 5])
                i += 4
            elif code.isdigit() and (30 <= int(code) <= 37 or 90 <= int(code) <= 97):
                fg = code
            i += 1
    return out


class Tmux:
    def __init__(self, binary: str, socket: str, cwd: Path, env: dict[str, str]) -> None:
        self.binary = binary
        self.socket = socket
        self.cwd = cwd
        self.env = env

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            [self.binary, "-L", self.socket, "-f", "/dev/null", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode == 0, f"tmux {args}: {result.stderr}"
        return result.stdout

    def start(self, name: str, command: str) -> None:
        self(
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            str(self.cwd),
            command,
            ";",
            "set-option",
            "-t",
            name,
            "remain-on-exit",
            "on",
        )

    def screen(self, target: str, styles: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if styles else []), "-t", target)

    def title(self, target: str) -> str:
        return self("display-message", "-p", "-t", target, "#{pane_title}").strip()

    def wait_for(self, target: str, predicate: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while True:
            screen = self.screen(target)
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not seen in tmux pane {target}:\n{screen}")
            time.sleep(0.1)

    def kill(self) -> None:
        found = subprocess.run(
            [self.binary, "-L", self.socket, "display-message", "-p", "#{socket_path}"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        subprocess.run(
            [self.binary, "-L", self.socket, "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=10,
            check=False,
        )
        if found.returncode == 0 and found.stdout.strip():
            Path(found.stdout.strip()).unlink(missing_ok=True)  # tmux leaves it behind


HOSTILE = (
    "title \x1b]0;PWNED\x07 set\n"
    "clear \x1b[2J\x1b[H wiped\n"
    "paint \x1b[31mred\n"
    "bidi \u202eevil\n"
    "markup [bold red]x[/]\n"
    "bell \x07 and erase \x1b[1K line\n"
)


def test_hostile_text_is_shown_literally(lab: Lab, tmux_bin: str) -> None:
    port = lab.free_port()
    tmux = Tmux(tmux_bin, f"severus-e2e-{port}", lab.root, lab.env(color=True))
    try:
        _check_terminal(lab, tmux, port)
    finally:
        tmux.kill()


def _check_terminal(lab: Lab, tmux: Tmux, port: int) -> None:
    # Control: in this tmux, raw escapes do set the title and paint red, so the checks
    # below would see it if severus let them through.
    tmux.start(
        "control", r"printf '\033]0;CONTROL-TITLE\007\033[31mred-control\033[0m\n'; sleep 60"
    )
    tmux.wait_for("control", lambda s: "red-control" in s, "the control output")
    assert tmux.title("control") == "CONTROL-TITLE"
    control = parse_styled(tmux.screen("control", styles=True).splitlines()[0])
    assert all(c.fg in _RED for c in control.at("red-control"))

    command = " ".join(
        [
            *lab.cli,
            "host",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--nick",
            "ana",
            "--config-dir",
            str(lab.config("host")),
        ]
    )
    tmux.start("ana", command)
    tmux.wait_for("ana", lambda s: "Welcome, ana!" in s, "the host's welcome")
    title_before = tmux.title("ana")
    assert "PWNED" not in title_before

    sent = lab.send(f"127.0.0.1:{port}", HOSTILE.encode(), "--accept-new", nick="mallory")
    assert sent.returncode == 0, sent.stderr.decode()
    literal = (
        r"mallory: title \x1b]0;PWNED\x07 set",
        r"mallory: clear \x1b[2J\x1b[H wiped",
        r"mallory: paint \x1b[31mred",
        r"mallory: bidi \u202eevil",
        "mallory: markup [bold red]x[/]",
        r"mallory: bell \x07 and erase \x1b[1K line",
    )
    # A send shows only its lines (no join or leave line): wait for the last of them.
    screen = tmux.wait_for("ana", lambda s: literal[-1] in s, "mallory's visit")

    # Not cleared: what the host printed first is still at the top of the screen (a
    # long config path may wrap the identity line above it over several rows).
    top = screen.splitlines()[0]
    assert top.startswith(("Created a new identity", "Severus host")), screen
    assert "Severus host" in screen, screen
    assert "Identity fingerprint" in screen
    for shown in literal:
        assert shown in screen, f"{shown!r} not shown literally:\n{screen}"
    assert "\u202e" not in screen
    assert tmux.title("ana") == title_before

    styled = [parse_styled(line) for line in tmux.screen("ana", styles=True).splitlines()]
    by_text = {line.text.rstrip(): line for line in styled}
    paint = next(line for text, line in by_text.items() if "paint" in text)
    assert not any(c.fg in _RED for c in paint.at("red")), "peer text turned red"
    markup = next(line for text, line in by_text.items() if "markup [" in text)
    assert not any(c.bold or c.fg in _RED for c in markup.at("x[/]")), "markup took effect"
    # Escapes are set apart from real text so a typed "\x1b" is not mistaken for one.
    assert all(c.reverse for c in paint.at(r"\x1b"))
    assert not any(c.reverse for c in paint.at("[31mred"))

    # The host still works afterwards.
    after = lab.send(f"127.0.0.1:{port}", b"still fine\n", nick="mallory")
    assert after.returncode == 0, after.stderr.decode()
    tmux.wait_for("ana", lambda s: "mallory: still fine" in s, "a later message")
    assert "Traceback" not in tmux.screen("ana")
