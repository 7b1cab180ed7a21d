"""When the relayed path starts, relative to punching (runtime/traverse.py _first)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from severus_cli.core.client.routes import RelayRoute
from severus_cli.errors import HostUnreachable, JoinSecretRefused, UnknownHostError
from severus_cli.runtime import traverse

ROUTE = RelayRoute("relay", "192.0.2.1", 3340, bytes(32))
# Shorter than the real ones, yet far enough apart that a busy machine, which makes
# every timer fire a little late, cannot blur "at the floor" with "after the head start".
HEAD_START = 1.0
PREFER_DIRECT = 0.1
LATE = 0.5  # how late a timer may fire under load and still pass


class Link:
    def __init__(self, path: str) -> None:
        self.path = path


def race(
    monkeypatch: pytest.MonkeyPatch,
    punching: Any,
    relayed_after: float = 0.05,
    relayed_error: Exception | None = None,
) -> tuple[Any, list[float]]:
    """Run _first with a fake punching attempt; return the winner (or error) and when
    the relayed attempt was started (seconds after the race began)."""
    monkeypatch.setattr(traverse, "HEAD_START", HEAD_START)
    monkeypatch.setattr(traverse, "PREFER_DIRECT", PREFER_DIRECT)
    started: list[float] = []

    async def fake_relayed(*args: Any) -> Any:
        started.append(asyncio.get_running_loop().time() - begin)
        await asyncio.sleep(relayed_after)
        if relayed_error is not None:
            raise relayed_error
        return Link("relayed")

    monkeypatch.setattr(traverse, "_relayed", fake_relayed)

    async def main() -> Any:
        nonlocal begin
        begin = asyncio.get_running_loop().time()
        hole = asyncio.Event()
        tasks = {asyncio.create_task(punching(hole)): "punching"} if punching else {}
        try:
            return await traverse._first(tasks, hole, None, None, ROUTE, None, 1.0)  # type: ignore[arg-type]
        except Exception as error:  # returned for the test to inspect
            return error
        finally:
            for task in tasks:
                task.cancel()

    begin = 0.0
    return asyncio.run(main()), started


def test_a_quick_punch_wins_and_the_relay_is_never_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    async def punching(hole: asyncio.Event) -> Link:
        hole.set()
        await asyncio.sleep(0.05)
        return Link("punched")

    winner, started = race(monkeypatch, punching)
    assert winner.path == "punched"
    assert started == []


def test_no_punch_heard_the_relay_starts_after_the_head_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def punching(hole: asyncio.Event) -> Link:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    winner, started = race(monkeypatch, punching)
    assert winner.path == "relayed"
    assert len(started) == 1 and HEAD_START - 0.01 < started[0] < HEAD_START + LATE


def test_a_failed_punch_starts_the_relay_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    async def punching(hole: asyncio.Event) -> Link:
        await asyncio.sleep(0.02)
        raise HostUnreachable("no answer to our punches")

    winner, started = race(monkeypatch, punching)
    assert winner.path == "relayed"
    assert PREFER_DIRECT - 0.01 < started[0] < PREFER_DIRECT + LATE  # not after the head start


def test_an_open_hole_is_not_raced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's punches arrived, QUIC is just slow: wait for it, past the head start."""

    async def punching(hole: asyncio.Event) -> Link:
        hole.set()
        await asyncio.sleep(HEAD_START + 0.5)
        return Link("punched")

    winner, started = race(monkeypatch, punching)
    assert winner.path == "punched"
    assert started == []


def test_without_punching_the_relay_waits_only_for_direct_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    winner, started = race(monkeypatch, None)
    assert winner.path == "relayed"
    assert PREFER_DIRECT - 0.01 < started[0] < PREFER_DIRECT + LATE


def test_every_failure_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def punching(hole: asyncio.Event) -> Link:
        raise HostUnreachable("no answer to our punches")

    error, _ = race(monkeypatch, punching, relayed_error=HostUnreachable("the relay refused"))
    assert isinstance(error, HostUnreachable)
    assert "punching: no answer to our punches" in error.message
    assert "relaying: the relay refused" in error.message


def test_a_trust_failure_ends_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    async def punching(hole: asyncio.Event) -> Link:
        raise UnknownHostError("not the key in the ticket")

    error, _ = race(monkeypatch, punching, relayed_after=1.0)
    assert isinstance(error, UnknownHostError)


def test_a_refusal_by_the_host_is_reported_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong join secret fails every path alike: say so, not "unreachable"."""

    async def punching(hole: asyncio.Event) -> Link:
        raise JoinSecretRefused()

    error, _ = race(monkeypatch, punching, relayed_error=JoinSecretRefused())
    assert isinstance(error, JoinSecretRefused)
