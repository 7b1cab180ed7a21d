"""``severus keygen|fingerprint|trust`` run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from severus_cli.core.trust.identity import fingerprint
from severus_cli.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]
KEY = fingerprint(b"host key")
OTHER_KEY = fingerprint(b"another host key")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SEVERUS_CONFIG_DIR"}
    environment.update(PYTHONPATH=str(ROOT), COLUMNS="250", NO_COLOR="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "severus_cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == EXIT_CODES[code], result.stderr
    assert result.stderr.startswith("severus: ")
    assert "Traceback" not in result.stderr


def test_keygen_then_fingerprint(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    result = run("keygen", "--config-dir", str(cfg))
    assert result.returncode == 0, result.stderr
    for name in ("identity.key", "tls.key", "tls.crt"):
        assert str(cfg / name) in result.stdout
        assert (cfg / name).is_file()
    shown = run("fingerprint", "--config-dir", str(cfg), "--json")
    assert shown.returncode == 0 and shown.stderr == ""
    data = json.loads(shown.stdout)
    assert data["config_dir"] == str(cfg)
    assert f"Identity fingerprint:    {data['identity']}" in result.stdout
    assert f"Certificate fingerprint: {data['certificate']}" in result.stdout


def test_keygen_never_replaces_without_force(tmp_path: Path) -> None:
    first = json.loads(run("keygen", "--json", "--config-dir", str(tmp_path)).stdout)
    keys = (tmp_path / "identity.key").read_bytes()
    again = run("keygen", "--json", "--config-dir", str(tmp_path))
    assert_clean_error(again, "config")
    assert "--force" in again.stderr and again.stdout == ""
    assert (tmp_path / "identity.key").read_bytes() == keys
    forced = run("keygen", "--force", "--json", "--config-dir", str(tmp_path))
    assert forced.returncode == 0, forced.stderr
    second = json.loads(forced.stdout)
    assert second["identity"] != first["identity"]
    assert second["certificate"] != first["certificate"]


def test_fingerprint_creates_identity(tmp_path: Path) -> None:
    result = run("fingerprint", "--config-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "created" in result.stderr and str(tmp_path) in result.stderr
    assert "Identity fingerprint:    SHA256:" in result.stdout
    again = run("fingerprint", "--config-dir", str(tmp_path))
    assert again.stderr == "" and again.stdout == result.stdout


def test_config_dir_from_environment(tmp_path: Path) -> None:
    result = run("fingerprint", "--json", env={"SEVERUS_CONFIG_DIR": str(tmp_path / "env")})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config_dir"] == str(tmp_path / "env")
    assert (tmp_path / "env" / "identity.key").is_file()


def test_corrupt_identity_is_a_clean_error(tmp_path: Path) -> None:
    run("keygen", "--config-dir", str(tmp_path))
    (tmp_path / "identity.key").write_bytes(b"garbage")
    result = run("fingerprint", "--config-dir", str(tmp_path))
    assert_clean_error(result, "config")
    assert "identity.key" in result.stderr and "keygen --force" in result.stderr


def test_trust_add_list_remove(tmp_path: Path) -> None:
    cfg = str(tmp_path)
    empty = run("trust", "list", "--config-dir", cfg)
    assert empty.returncode == 0 and "No pinned hosts" in empty.stdout
    assert json.loads(run("trust", "list", "--json", "--config-dir", cfg).stdout) == []

    added = run("trust", "add", "Example.COM:4000", KEY, "--config-dir", cfg)
    assert added.returncode == 0, added.stderr
    assert "example.com:4000" in added.stdout
    again = run("trust", "add", "example.com:4000", KEY, "--config-dir", cfg)
    assert again.returncode == 0 and "Already pinned" in again.stdout

    listed = json.loads(run("trust", "list", "--json", "--config-dir", cfg).stdout)
    assert [(row["host"], row["key"], row["cert"]) for row in listed] == [
        ("example.com:4000", KEY, None)
    ]
    assert set(listed[0]) == {"host", "key", "cert", "first_seen", "last_seen"}
    table = run("trust", "list", "--config-dir", cfg)
    assert "example.com:4000" in table.stdout and KEY in table.stdout

    removed = run("trust", "remove", "EXAMPLE.com:4000", "--config-dir", cfg)
    assert removed.returncode == 0 and "Removed example.com:4000" in removed.stdout
    missing = run("trust", "remove", "example.com:4000", "--config-dir", cfg)
    assert_clean_error(missing, "usage")
    assert "example.com:4000 is not in known_hosts" in missing.stderr


def test_trust_add_refuses_a_different_key(tmp_path: Path) -> None:
    cfg = str(tmp_path)
    run("trust", "add", "[::1]:3000", KEY, "--config-dir", cfg)
    before = (tmp_path / "known_hosts.json").read_bytes()
    result = run("trust", "add", "::1", OTHER_KEY, "--config-dir", cfg)
    assert_clean_error(result, "trust")
    assert "severus trust remove [::1]:3000" in result.stderr
    assert (tmp_path / "known_hosts.json").read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ("trust", "add", "example.com", "SHA256:nope"),
        ("trust", "add", "example.com:0", KEY),
        ("trust", "add", "bad host", KEY),
        ("trust", "remove", "[::1"),
    ],
)
def test_trust_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = run(*args, "--config-dir", str(tmp_path))
    assert_clean_error(result, "usage")
    assert not (tmp_path / "known_hosts.json").exists()


def test_corrupt_known_hosts_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "known_hosts.json").write_text('{"version": 1, "hosts": {"h": 5}}')
    result = run("trust", "list", "--config-dir", str(tmp_path))
    assert_clean_error(result, "config")
    assert str(tmp_path / "known_hosts.json") in result.stderr
