"""The compiled host (tools/build_compiled.py) with real processes: it is the core that
runs when asked, it relays room messages of every size exactly, over TCP and QUIC, and
an edited source puts it back on pure Python with a warning, never on a stale extension
(nor on one whose source was saved while it was being built).

One build serves the module: the one ``SEVERUS_COMPILED`` names if it is usable, or one
made here (gcc and the Python headers: skipped without them, a failure under CI=true).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from severus_cli import _compiled
from tests.e2e.lab import cli_env
from tests.test_compiled_core import build_for_real

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Piped

ROOT = Path(__file__).resolve().parent.parent.parent
VERSION = [sys.executable, "-c", "from severus_cli.__main__ import main; main()", "--version"]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    setting = os.environ.get(_compiled.ENV, "")
    if setting not in ("", "0"):
        given = _compiled.DEFAULT_DIR if setting == "1" else Path(setting)
        if not isinstance(_compiled.finder_for(given), str):
            return given
    out = tmp_path_factory.mktemp("build") / "compiled"
    build_for_real(out)
    return out


@pytest.fixture
def compiled(build: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every process the lab starts runs the build (cli_env passes the setting on)."""
    monkeypatch.setenv(_compiled.ENV, str(build))
    yield build


def joiner(lab: Lab, address: str, nick: str, mode: str) -> Piped:
    bot = lab.piped(
        "join", address, "--nick", nick, "--accept-new", "--json", "--mode", mode,
        "--config-dir", str(lab.config(nick)), name=f"bot {nick}",
    )  # fmt: skip
    bot.wait_json(event="welcome")
    return bot


# The largest messages a client lets through: the most characters, and the most bytes
# (4-byte characters up to max_data less the sealing overhead, text_limits.py).
MOST_CHARACTERS = "x" * 16_384
MOST_BYTES = "\U0001f600" * ((65_000 - 512) // 4)
TEXTS = ["hi", "ünï ∑ 漢字 🦀 -\t- «»", MOST_CHARACTERS, MOST_BYTES, "."]


@pytest.mark.parametrize("mode", ["direct", "quic"])
def test_a_compiled_host_relays_every_size_exactly(lab: Lab, compiled: Path, mode: str) -> None:
    shown = subprocess.run(VERSION, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert shown.stdout.strip().endswith("(compiled core)"), shown.stdout + shown.stderr
    assert shown.stderr == ""
    ana = lab.host("ana", "--mode", mode)
    bob, cy = (joiner(lab, ana.address, nick, mode) for nick in ("bob", "cy"))
    bob.wait_json(event="join", nick="cy")
    for text in TEXTS:
        bob.write_line(text)
        got = cy.wait_json(event="message", sender="bob")
        assert got["text"] == text and got["room"] == "lobby"
        cy.write_line(text)
        back = bob.wait_json(event="message", sender="cy")
        assert back["text"] == text and back["room"] == "lobby"
    # One 4-byte character more is refused by the sender; the sentinel after it is all
    # that arrives.
    bob.write_line(MOST_BYTES + "\U0001f600")
    bob.wait_json(event="notice")
    bob.write_line("sentinel")
    assert cy.wait_json(event="message", sender="bob")["text"] == "sentinel"
    # A room whose name is as long as names go, with every kind of character they allow.
    room = "Ab9_.-" + "z" * 26
    for member in (bob, cy):
        member.write_line(f"/join {room}")
        member.wait_json(event="room", room=room)
    bob.wait_json(event="join", nick="cy", room=room)
    bob.write_line(MOST_BYTES)
    got = cy.wait_json(event="message", sender="bob", room=room)
    assert got["text"] == MOST_BYTES
    screen = ana.text
    assert "pure Python" not in screen and "Traceback" not in screen
    assert "internal error" not in screen


def test_an_edited_source_makes_a_copy_of_severus_run_pure_python(
    build: Path, tmp_path: Path
) -> None:
    """A checkout edited after its build: the copy here is that checkout."""
    shutil.copytree(ROOT / "severus_cli", tmp_path / "severus_cli")
    env = dict(cli_env(), PYTHONPATH=str(tmp_path), **{_compiled.ENV: str(build)})

    def version() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            VERSION, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    fresh = version()
    assert fresh.stdout.strip().endswith("(compiled core)"), fresh.stdout + fresh.stderr
    for edited in ("core/wire/seal_reader.py", "core/wire/client_packets.py"):
        source = tmp_path / "severus_cli" / edited
        original = source.read_bytes()
        source.write_bytes(original + b"\n# edited\n")
        stale = version()
        assert stale.stdout.strip().endswith("(pure Python)"), stale.stdout
        module = "severus_cli." + edited.removesuffix(".py").replace("/", ".")
        assert f"older than {module}" in stale.stderr
        check = subprocess.run(
            [sys.executable, "-c", "from severus_cli.core.wire import codec; "
             "print(codec.READ_SEALS, codec.__file__)"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert check.stdout.startswith(f"False {tmp_path}"), check.stdout + check.stderr
        source.write_bytes(original)
    assert version().stdout.strip().endswith("(compiled core)")


def load_build_tool() -> Any:
    path = ROOT / "tools" / "build_compiled.py"
    spec = importlib.util.spec_from_file_location("build_compiled", path)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_a_source_saved_during_the_build_does_not_get_a_matching_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor saving while mypyc runs (the build takes seconds): the extension holds
    the code read before, so the manifest must hold that code's hash, or the build must
    fail; otherwise the stale extension silently shadows the edit."""
    import mypyc.build

    tool = load_build_tool()
    shutil.copytree(ROOT / "severus_cli", tmp_path / "src/severus_cli")
    monkeypatch.setattr(tool, "ROOT", tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    target = "severus_cli/core/wire/seal_reader.py"
    compiled: dict[str, str] = {}

    def mypycify(paths: list[str], **options: Any) -> list[object]:
        for path in paths:  # what the extensions would hold
            compiled[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        with Path(target).open("a") as source:
            source.write("# saved while the build ran\n")
        (Path(options["target_dir"]).parent / "lib").mkdir(parents=True)
        return []  # nothing to compile: this test is about the manifest

    monkeypatch.setattr(mypyc.build, "mypycify", mypycify)
    try:
        manifest = tool.build(tmp_path / "out")
    except SystemExit:
        return  # refusing such a build is a fix too
    modules = manifest["modules"]
    assert modules[tool.module_name(target)] == compiled[target]
