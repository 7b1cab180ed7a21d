"""The zsh completion in completions/ works in a real zsh, installed either way.

Installed in ``$fpath`` (what packagers do), zsh autoloads ``_severus`` on the first
Tab: that Tab must already complete. Sourced from ``.zshrc``, it registers itself.
Descriptions keep their apostrophes ("a host's identity").
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pexpect
import pytest

from tests.needs import require_tool

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20.0  # bounds a failure only: a completion shows as soon as it is ready


def start_zsh(tmp_path: Path, install: str) -> pexpect.spawn:
    zsh = require_tool("zsh", "zsh", why="to check the zsh completion script")
    functions = tmp_path / "functions"
    functions.mkdir()
    shutil.copy(ROOT / "completions" / "_severus", functions / "_severus")
    bin_dir = Path(sys.executable).parent  # holds the `severus` entry point
    assert (bin_dir / "severus").exists(), "install the package: pip install -e ."
    lines = [
        "unsetopt BEEP",
        "autoload -Uz compinit",
        f"compinit -u -d {tmp_path / 'zcompdump'}",
        "PS1='ready> '",
    ]
    if install == "fpath":
        lines.insert(0, f"fpath=({functions} $fpath)")
    else:
        lines.append(f"source {functions / '_severus'}")
    (tmp_path / ".zshrc").write_text("\n".join(lines) + "\n")
    env = {
        "HOME": str(tmp_path),
        "ZDOTDIR": str(tmp_path),
        "TERM": "xterm",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SEVERUS_CONFIG_DIR": str(tmp_path / "config"),
    }
    shell = pexpect.spawn(
        zsh, ["-i"], env=env, dimensions=(40, 160), timeout=TIMEOUT, encoding="utf-8"
    )
    shell.expect_exact("ready> ")
    return shell


@pytest.mark.parametrize("install", ["fpath", "source"])
def test_one_tab_completes_and_apostrophes_stay(tmp_path: Path, install: str) -> None:
    shell = start_zsh(tmp_path, install)
    try:
        shell.send("severus tru\t")  # one Tab only
        shell.expect_exact("severus trust")  # then a space, in bold
        shell.send("\t")  # the subcommands, with their descriptions
        shell.expect(r"remove +-- ")  # the last one listed
        listing = str(shell.before)
        assert "a host's identity fingerprint" in listing, listing
        assert "a participant's changed key" in listing, listing
    finally:
        shell.close(force=True)
