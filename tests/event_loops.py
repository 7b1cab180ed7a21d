"""The event loops the in-process network tests run on: asyncio's own and uvloop's
(skipped where uvloop is not installed), the two that ``SEVERUS_LOOP`` chooses between.

A module runs each of its tests on both with ``pytestmark = pytest.mark.parametrize(
"loop", LOOPS)``; a test then takes ``loop`` and runs its coroutine with :func:`run_on`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib.util import find_spec
from typing import Any, TypeVar

import pytest

from tests.needs import in_ci

T = TypeVar("T")

LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        # Under CI=true a missing uvloop fails these instead (tests/needs.py).
        marks=pytest.mark.skipif(
            find_spec("uvloop") is None and not in_ci(),
            reason="uvloop is not installed (pip install -e '.[test]')",
        ),
    ),
]


def run_on(loop: str, coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on ``loop`` ("asyncio" or "uvloop")."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)
