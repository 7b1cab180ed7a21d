"""completions/ must be what the app generates now, and must actually complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import gen_completions  # noqa: E402


@pytest.mark.parametrize(("shell", "name"), sorted(gen_completions.FILES.items()))
def test_completion_scripts_are_current(shell: str, name: str) -> None:
    current = (ROOT / "completions" / name).read_text(encoding="utf-8")
    assert current == gen_completions.render(shell), (
        f"completions/{name} is stale: run python tools/gen_completions.py"
    )


def test_bash_completion_offers_subcommands_and_options() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = dict(
            os.environ,
            _SEVERUS_COMPLETE="complete_bash",
            COMP_WORDS=words,
            COMP_CWORD=str(cword),
        )
        done = subprocess.run(
            [sys.executable, "-m", "severus_cli"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout.split()

    assert {"host", "join", "send", "keygen", "fingerprint", "trust"} <= set(
        complete("severus ", 1)
    )
    assert "--accept-new" in complete("severus join --acc", 2)
    assert {"list", "add", "remove"} <= set(complete("severus trust ", 2))
