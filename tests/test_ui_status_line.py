"""The reconnect status line on a real terminal (tmux): hostile text in the cause is
shown, never obeyed; on a narrow terminal the line is cut in the middle so its end (the
countdown, how to stop) stays in sight; a resize mid-countdown redraws it; /quit ends."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

from rich.cells import cell_len

from severus_cli.ui.wrap import fit
from tests.needs import require_tool
from tests.test_ui_terminal import ROOT, Tmux

STATUS_SCRIPT = """
import asyncio, time
from severus_cli.ui.terminal import TerminalUI

HOSTILE = "evil\\x1b[2J\\x1b]52;c;aGk=\\x07[bold red]x[/]\\n\\u202egnp.exe end"

async def main() -> None:
    ui = TerminalUI(lambda: "bob", lambda: [], lambda: "[lobby] bob> ")
    start = time.monotonic()
    left = lambda: 60 - int(time.monotonic() - start)
    ui.status(lambda: f"host unreachable ({HOSTILE}); retrying in {left()} s (/quit to stop)")
    async for line in ui.read_lines():
        if line == "/quit":
            break
    ui.status(None)
    ui.close()
    print("EXITED")

asyncio.run(main())
"""
SHOWN = r"evil\x1b[2J\x1b]52;c;aGk=\x07[bold red]x[/]\n\u202egnp.exe end"
STATUS = re.compile(r"host unreachable \(.*\); retrying in (\d+) s \(/quit to stop\)")


def _status(lines: list[str]) -> list[str]:
    return [line for line in lines if "host u" in line or "…" in line]


def test_a_hostile_cause_narrow_screens_and_resizes(tmp_path: Path) -> None:
    require_tool("tmux", "tmux", why="this test reads a real screen")
    script = tmp_path / "status.py"
    script.write_text(STATUS_SCRIPT)
    errors = tmp_path / "stderr"
    env = f"PYTHONPATH={shlex.quote(str(ROOT))}"
    command = (
        f"{env} {shlex.quote(sys.executable)} {shlex.quote(str(script))} "
        f'2>{shlex.quote(str(errors))}; echo "exit $?"; sleep 30'
    )
    tmux = Tmux(f"severus-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmux.run("new-session", "-d", "-s", "t", "-x", "200", "-y", "12", command)
    socket_path = tmux.run("display-message", "-p", "#{socket_path}").strip()
    try:
        lines = tmux.wait(lambda lines: any(STATUS.fullmatch(s) for s in _status(lines)))
        [status] = _status(lines)  # one line, with the hostile text spelled out
        assert SHOWN in status, status
        assert lines == ["[lobby] bob>", status], lines  # nothing cleared or printed
        first = int(STATUS.fullmatch(status).group(1))  # type: ignore[union-attr]
        lines = tmux.wait(
            lambda lines: any(
                (m := STATUS.fullmatch(s)) and int(m.group(1)) < first for s in _status(lines)
            )
        )  # it counts down in place
        assert len(_status(lines)) == 1

        for width in (24, 8):  # narrow: cut in the middle, the end kept, one line
            tmux.run("resize-window", "-t", "t", "-x", str(width), "-y", "12")
            lines = tmux.wait(
                lambda lines, width=width: any(
                    "…" in s and cell_len(s) < width for s in _status(lines)
                )
            )
            [status] = _status(lines)
            assert status.startswith("ho"), status
            assert status.endswith("(/quit to stop)" if width > 20 else "top)"), status
        tmux.run("resize-window", "-t", "t", "-x", "200", "-y", "12")  # back: whole again
        tmux.wait(lambda lines: any(STATUS.fullmatch(s) for s in _status(lines)))

        tmux.run("send-keys", "-t", "t", "/quit", "Enter")
        lines = tmux.wait(lambda lines: "exit 0" in lines)
        assert "EXITED" in lines and not _status(lines), lines  # the status went with it
        assert errors.read_text() == ""
    finally:
        subprocess.run(["tmux", "-L", tmux.socket, "kill-server"], capture_output=True)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


def test_fit_cuts_in_the_middle_and_keeps_both_ends() -> None:
    line = "host unreachable (connection refused); retrying in 12 s (/quit to stop)"
    assert fit(line, 200) == line
    for width in range(0, len(line)):
        cut = fit(line, width)
        assert cell_len(cut) <= width
        if width >= 4:
            assert cut.startswith(line[: (width - 1) // 3]) and cut.endswith(")")
            assert cut.count("…") == 1
    wide = "日本語" * 10  # two cells each: never a half character past the width
    assert all(cell_len(fit(wide, width)) <= width for width in range(0, 40))


def test_on_a_pipe_a_hostile_cause_is_spelled_out() -> None:
    import io

    from severus_cli.ui.plain import PlainUI

    out = io.StringIO()
    ui = PlainUI(lambda: "bob", stdout=out)
    ui.status(lambda: "host unreachable (evil\x1b[2J\x1b]52;c;aGk=\x07[bold]x[/]\u202e)")
    written = out.getvalue()
    assert "\x1b" not in written and "\x07" not in written and "\u202e" not in written
    assert r"evil\x1b[2J\x1b]52;c;aGk=\x07[bold]x[/]\u202e" in written
