"""Review of issue 11, items 1 and 9: bounding known_peers must not let a host flush pins.

A hostile host can invent nicks without end (``joined`` in the lobby costs it nothing).
known_peers is bounded by forgetting entries, so a host that makes up enough nicks must
not be able to make the client forget bob's pin and then hand out its own key for bob
as a *first* sighting: that would re-open the silent substitution item 1 closed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from severus_cli.core.trust import known_peers
from severus_cli.core.trust.known_peers import MAX_PEERS_PER_HOST, KnownPeers
from severus_cli.core.trust.peer_trust import PeerGuard, PeerVerdict

HOST = "127.0.0.1:3000"
BOB = bytes(range(32))
EVIL = bytes(range(1, 33))


def _fake(i: int) -> tuple[str, bytes]:
    return f"ghost{i}", i.to_bytes(4, "big") * 8


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """utc_now_iso ticking one second per call: every sighting is later than the last."""
    now = [0]

    def tick() -> str:
        now[0] += 1
        moment = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=now[0])
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    monkeypatch.setattr(known_peers, "utc_now_iso", tick)
    return now


def test_invented_nicks_in_one_session_do_not_flush_a_pin(tmp_path: Path, clock: list[int]) -> None:
    first = KnownPeers(tmp_path, HOST)
    first.check("bob", BOB)
    first.save()

    store = KnownPeers(tmp_path, HOST)
    guard = PeerGuard(store, HOST)
    assert guard.check("bob", BOB) is None  # bob is there, with his key
    for i in range(2 * MAX_PEERS_PER_HOST + 1):  # the host makes up nicks
        guard.check(*_fake(i))
    # ... then says bob left and came back with its own key.
    warning = guard.check("bob", EVIL)
    assert warning is not None and "HAS CHANGED" in warning
    assert guard.blocked("bob", EVIL)


def test_invented_nicks_saved_in_one_session_do_not_flush_a_pin_for_the_next(
    tmp_path: Path, clock: list[int]
) -> None:
    first = KnownPeers(tmp_path, HOST)
    first.check("bob", BOB)
    first.save()

    flooded = KnownPeers(tmp_path, HOST)
    flooded.check("bob", BOB)
    for i in range(MAX_PEERS_PER_HOST + 1):
        flooded.check(*_fake(i))
    flooded.save()

    later = KnownPeers(tmp_path, HOST)
    assert later.check("bob", EVIL)[0] is PeerVerdict.CHANGED
