"""What a test needs from the machine: a tool, root, a Python module.

On a developer's machine a missing need skips the test with the package to install. Under
``CI=true`` it fails instead: `.ci/run` installs everything, so a skip there means an
install step broke, and a green run must never hide a test that did not run.
"""

from __future__ import annotations

import os
import shutil
from importlib.util import find_spec
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unmet(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under CI."""
    if in_ci():
        pytest.fail(f"CI=true, and this test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(tool: str, package: str, *, why: str = "") -> str:
    """The path of ``tool``, which Debian ships in ``package``."""
    found = shutil.which(tool)
    if found is None:
        detail = f" ({why})" if why else ""
        unmet(f"needs {tool}{detail}: apt-get install -y {package}")
    return found


def require_tools(tools: dict[str, str]) -> None:
    """Every tool of ``{tool: debian package}``; names all the missing ones at once."""
    missing = {tool: pkg for tool, pkg in tools.items() if shutil.which(tool) is None}
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        unmet(f"needs {', '.join(missing)}: apt-get install -y {packages}")


def require_root(why: str) -> None:
    if os.geteuid() != 0:
        unmet(f"needs root to {why} (CI runs as root)")


def require_module(module: str, install: str) -> None:
    if find_spec(module) is None:
        unmet(f"needs the Python module {module}: {install}")
