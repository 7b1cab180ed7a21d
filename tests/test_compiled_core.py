"""The opt-in mypyc build of the host core (tools/build_compiled.py, severus_cli/_compiled.py).

A build is used only when asked and only while it matches the sources, so a stale
extension never shadows an edited module; built for real, it passes the core's own tests
and ``severus --version`` says it is in use. Building needs gcc and the Python headers:
skipped without them on a developer's machine, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from severus_cli import _compiled
from tests.needs import require_tool, unmet

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
CORE_TESTS = [
    "tests/test_framing.py",
    "tests/test_packets.py",
    "tests/test_codec_fast.py",
    "tests/test_seal_reader.py",
    "tests/test_attack_fast_paths.py",
    "tests/test_ratelimit.py",
    "tests/test_host_core.py",
    "tests/test_host_limits.py",
    "tests/test_move_attacks.py",
    # the direct transport's glue, compiled too: bytes in pieces, TLS, limits, moves
    "tests/test_tcp_read_buffer.py",
    "tests/test_tls_bio.py",
    "tests/test_transport_limits.py",
    "tests/test_limits.py",
    "tests/test_link_move.py",
    "tests/test_relay_loopback.py",
]


def fake_build(
    directory: Path,
    modules: dict[str, str],
    suffix: str = SUFFIX,
    checked: dict[str, str] | None = None,
) -> None:
    """A build directory with ``modules`` in its manifest and empty extension files."""
    for name in modules:
        file = directory / (name.replace(".", "/") + suffix)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"")
    manifest = {"suffix": suffix, "runtime": "rt__mypyc", "modules": modules}
    manifest["checked"] = checked or {}
    (directory / ("rt__mypyc" + suffix)).write_bytes(b"")
    (directory / _compiled.MANIFEST).write_text(json.dumps(manifest))


def current_hash(module: str) -> str:
    import hashlib

    return hashlib.sha256((ROOT / (module.replace(".", "/") + ".py")).read_bytes()).hexdigest()


def test_a_build_matching_the_sources_gives_a_finder_for_its_modules_only(tmp_path: Path) -> None:
    name = "severus_cli.core.wire.framing"
    fake_build(tmp_path, {name: current_hash(name)})
    finder = _compiled.finder_for(tmp_path)
    assert isinstance(finder, _compiled.CompiledFinder)
    assert set(finder.files) == {name, "rt__mypyc"}
    assert finder.find_spec("severus_cli.core.wire.codec", None) is None


def test_an_edited_source_makes_the_build_unusable(tmp_path: Path) -> None:
    fresh, edited = "severus_cli.core.wire.framing", "severus_cli.core.wire.codec"
    fake_build(tmp_path, {fresh: current_hash(fresh), edited: "0" * 64})
    why = _compiled.finder_for(tmp_path)
    assert isinstance(why, str)
    assert "older than severus_cli.core.wire.codec" in why
    assert fresh not in why


def test_an_edited_module_that_a_compiled_one_imports_makes_it_unusable(tmp_path: Path) -> None:
    fresh, imported = "severus_cli.core.wire.framing", "severus_cli.errors"
    fake_build(tmp_path, {fresh: current_hash(fresh)}, checked={imported: "0" * 64})
    assert "older than severus_cli.errors" in str(_compiled.finder_for(tmp_path))
    fake_build(tmp_path, {fresh: current_hash(fresh)}, checked={imported: current_hash(imported)})
    finder = _compiled.finder_for(tmp_path)
    assert isinstance(finder, _compiled.CompiledFinder)
    assert imported not in finder.files  # checked, never loaded from the build


def test_a_build_for_another_python_or_with_a_file_missing_is_not_used(tmp_path: Path) -> None:
    name = "severus_cli.core.wire.framing"
    fake_build(tmp_path / "other", {name: current_hash(name)}, suffix=".cpython-39-x.so")
    assert "another Python" in str(_compiled.finder_for(tmp_path / "other"))
    fake_build(tmp_path / "gap", {name: current_hash(name)})
    next((tmp_path / "gap").rglob("framing*")).unlink()
    assert "lacks" in str(_compiled.finder_for(tmp_path / "gap"))
    assert "no compiled core" in str(_compiled.finder_for(tmp_path / "none"))


def test_activate_says_why_it_runs_pure_python_and_adds_no_finder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = list(sys.meta_path)
    assert _compiled.activate("") is False
    assert _compiled.activate("0") is False
    assert capsys.readouterr().err == ""
    assert _compiled.activate(str(tmp_path)) is False
    assert "running pure Python" in capsys.readouterr().err
    assert sys.meta_path == before


def build_for_real(out: Path) -> float:
    require_tool("gcc", "gcc", why="mypyc compiles to C")
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.is_file():
        unmet(f"needs {include}: apt-get install -y python3-dev")
    start = time.monotonic()
    built = subprocess.run(
        [sys.executable, "tools/build_compiled.py", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return time.monotonic() - start


def severus_version(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "from severus_cli.__main__ import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "--version"], env=env, capture_output=True, text=True
    )


def test_the_compiled_core_builds_passes_the_core_tests_and_goes_stale(tmp_path: Path) -> None:
    out = tmp_path / "compiled"
    took = build_for_real(out)
    print(f"built in {took:.1f} s")
    env = dict(os.environ, SEVERUS_COMPILED=str(out))
    shown = severus_version(env)
    assert shown.stdout.strip().endswith("(compiled core)"), shown.stdout + shown.stderr
    assert shown.stderr == ""
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *CORE_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert tested.returncode == 0, tested.stdout[-4000:]
    # A source edited after the build: the manifest no longer matches, so pure Python.
    manifest = json.loads((out / _compiled.MANIFEST).read_text())
    manifest["modules"]["severus_cli.core.wire.codec"] = "0" * 64
    (out / _compiled.MANIFEST).write_text(json.dumps(manifest))
    shown = severus_version(env)
    assert shown.stdout.strip().endswith("(pure Python)"), shown.stdout
    assert "older than severus_cli.core.wire.codec" in shown.stderr
