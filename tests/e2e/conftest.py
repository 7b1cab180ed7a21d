"""Fixtures for the end-to-end tests; the helpers themselves are in ``tests/e2e/lab.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.lab import Host, Lab, Term
from tests.needs import require_tool


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    world = Lab(tmp_path)
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def trio(lab: Lab) -> tuple[Lab, Host, Term, Term]:
    """ana hosts; bob then cy join (pinned with --accept-new)."""
    host = lab.host("ana")
    bob = lab.join(host, "bob")
    host.expect(r" \* bob joined\.")
    cy = lab.join(host, "cy")
    bob.expect(r" \* cy joined\.")
    host.expect(r" \* cy joined\.")
    return lab, host, bob, cy


@pytest.fixture
def tmux_bin() -> str:
    return require_tool("tmux", "tmux", why="the terminal tests read a real screen")
