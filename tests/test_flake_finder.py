"""tools/flake_finder.py counts each test's failures over many runs in one pytest session."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "flake_finder.py"

# Fails on every second run, counted in a file: flaky by construction, not by chance.
GENERATED = """
from pathlib import Path

import pytest

COUNTER = Path(__file__).with_name("counter")


def test_flaky():
    n = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(n + 1))
    assert n % 2 == 0, f"odd run {n}"


@pytest.mark.parametrize("word", ["a", "b"])
def test_steady(word):
    assert word
"""


def _finder(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "counter").unlink(missing_ok=True)
    (tmp_path / "test_generated.py").write_text(GENERATED)
    command = [sys.executable, str(TOOL), *args, "--", "-p", "no:cacheprovider"]
    # No plugin autoload: importing hypothesis alone takes seconds on a loaded machine.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_counts_failures_per_test(tmp_path: Path) -> None:
    done = _finder(tmp_path, "-n", "4", "test_generated.py")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "test_generated.py::test_flaky: failed 2 of 4\n" in done.stdout
    assert "first failure (run 2) AssertionError: odd run 1" in done.stdout
    # Parametrized tests keep their own ids, and their runs add up per id.
    assert "test_generated.py::test_steady[a]: passed 4 of 4\n" in done.stdout
    assert "test_generated.py::test_steady[b]: passed 4 of 4\n" in done.stdout
    assert (tmp_path / "counter").read_text() == "4"


def test_stops_at_the_first_failure_and_stops_its_hogs(tmp_path: Path) -> None:
    done = _finder(tmp_path, "-n", "50", "-x", "--hogs", "2", "test_generated.py")
    assert done.returncode == 1, done.stdout + done.stderr
    # Rounds: every test once, then again; the second round's first test fails.
    assert "test_generated.py::test_flaky: failed 1 of 2\n" in done.stdout
    assert "test_generated.py::test_steady[a]: passed 1 of 1\n" in done.stdout
    found = re.search(r"beside 2 CPU hog\(s\) \(pids (\d+), (\d+)\)", done.stdout)
    assert found, done.stdout
    for pid in map(int, found.groups()):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"hog {pid} outlived the finder")
