"""SEVERUS_LOOP picks the event loop every command runs on."""

from __future__ import annotations

import asyncio
import sys

import pytest

from severus_cli.commands.common import LOOP_ENV, loop_factory, run
from tests.needs import require_module


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.parametrize("value", [None, "", "asyncio", "something-else"])
def test_asyncio_unless_uvloop_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(LOOP_ENV, raising=False)
    else:
        monkeypatch.setenv(LOOP_ENV, value)
    assert loop_factory() is None
    assert run(loop_module()).startswith("asyncio")


def test_uvloop_when_asked_for_and_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    require_module("uvloop", "pip install -e '.[test]'")
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    assert run(loop_module()).startswith("uvloop")


def test_uvloop_asked_for_but_missing_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    assert loop_factory() is None
