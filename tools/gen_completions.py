"""Write completions/ for bash, zsh and fish from the Typer app.

The scripts call back into ``severus`` for the actual candidates, so they follow the
app's commands and options; ``tests/test_completions.py`` fails when they are stale.
Run: ``python tools/gen_completions.py``.
"""

from __future__ import annotations

from pathlib import Path

from typer.completion import get_completion_script

ROOT = Path(__file__).resolve().parent.parent
FILES = {"bash": "severus.bash", "zsh": "_severus", "fish": "severus.fish"}


def render(shell: str) -> str:
    script = get_completion_script(
        prog_name="severus", complete_var="_SEVERUS_COMPLETE", shell=shell
    )
    return script.rstrip("\n") + "\n"


def main() -> None:
    for shell, name in FILES.items():
        (ROOT / "completions" / name).write_text(render(shell), encoding="utf-8")


if __name__ == "__main__":
    main()
