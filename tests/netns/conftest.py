"""Network namespaces the tests create for themselves (root only; CI runs as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def _require_root_tools(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces (CI runs as root)")
    missing = [t for t in ("ip", *tools) if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install -y iproute2 nftables)")


@pytest.fixture
def loopback_namespace() -> Iterator[str]:
    """A fresh namespace with only a loopback interface; removed afterwards."""
    _require_root_tools("nft")
    name = f"sevtest{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {done.stderr.strip()}")
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            subprocess.run(["kill", "-9", pid], check=False)
        subprocess.run(["ip", "netns", "del", name], check=False)
