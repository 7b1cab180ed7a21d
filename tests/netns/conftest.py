"""Network namespaces the tests create for themselves (root only; CI runs as root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.needs import require_root, require_tools, unmet
from tests.netns.natlab import DEBIAN_PACKAGE


def _require_root_tools(*tools: str) -> None:
    require_root("create network namespaces")
    require_tools({tool: DEBIAN_PACKAGE[tool] for tool in ("ip", *tools)})


@pytest.fixture
def loopback_namespace() -> Iterator[str]:
    """A fresh namespace with only a loopback interface; removed afterwards."""
    _require_root_tools("nft")
    name = f"sevtest{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if done.returncode != 0:
        unmet(f"cannot create a network namespace here: {done.stderr.strip()}")
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
