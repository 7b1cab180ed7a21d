"""The fuzz harness (fuzz/fuzz_decoders.py) runs: a short atheris smoke run when atheris is
installed, and its plain random-input loop always."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import require_module

HARNESS = Path(__file__).resolve().parent.parent / "fuzz" / "fuzz_decoders.py"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HARNESS), *args],
        cwd=tmp_path,  # where atheris would write a crash file
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_plain_loop_finds_nothing(tmp_path: Path) -> None:
    done = _run(tmp_path, "--plain", "-runs=4000")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "4000 inputs, no finding" in done.stdout


def test_atheris_smoke_run(tmp_path: Path) -> None:
    require_module("atheris", "pip install atheris (Linux x86_64 wheels only)")
    done = _run(tmp_path, "-max_total_time=5", "-rss_limit_mb=2048", "-seed=1")
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-4000:]}"
    assert "Done " in done.stderr and "runs in" in done.stderr
    assert not list(tmp_path.glob("crash-*"))


def test_the_harness_catches_a_crash(tmp_path: Path) -> None:
    """A decoder that raised anything but a refusal would be reported, not swallowed."""
    spec = importlib.util.spec_from_file_location("fuzz_probe", HARNESS)
    assert spec is not None and spec.loader is not None
    argv = sys.argv
    sys.argv = [str(HARNESS), "--plain"]  # import without atheris instrumentation
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.argv = argv

    def broken(data: bytes) -> None:
        raise KeyError("a bug")

    module.TARGETS = (broken,)
    with pytest.raises(KeyError):
        module.one_input(b"\x00anything")
