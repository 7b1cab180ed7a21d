"""Separate severus processes pinning hosts at the same moment lose no pin: the lock and
the atomic replace in core/files.py, seen from the command line."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

PROCESSES = 8


def _key(n: int) -> str:
    digest = hashlib.sha256(bytes([n])).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def test_concurrent_processes_lose_no_pin(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "severus_cli", "trust", "add"),
                *(f"host{n}.example:4000", _key(n), "--config-dir", str(tmp_path)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    hosts = json.loads((tmp_path / "known_hosts.json").read_text())["hosts"]
    assert hosts == {
        f"host{n}.example:4000": {**hosts[f"host{n}.example:4000"], "key": _key(n)}
        for n in range(PROCESSES)
    }
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
