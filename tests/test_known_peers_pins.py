"""known_peers: what keeps a pin alive. Accepting a key is the only way to change one,
a malformed part of the file does not cost the rest, and the bounds forget the nicks
least recently seen (by time, not by name) and never a pin still in use in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from severus_cli.core.trust import known_peers
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_peers import FILE_NAME, KnownPeers, accept_peer, bound
from severus_cli.core.trust.peer_trust import PeerVerdict

HOST = "127.0.0.1:3000"
BOB = bytes(range(32))
MALLORY = bytes(range(1, 33))
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """utc_now_iso as a list the test sets: a second is too coarse to tell writes apart."""
    now = [T0]
    monkeypatch.setattr(known_peers, "utc_now_iso", lambda: now[0])
    yield now


def stored(config: Path) -> dict[str, dict[str, dict[str, str]]]:
    hosts: dict[str, dict[str, dict[str, str]]] = json.loads(
        (config / FILE_NAME).read_text(encoding="utf-8")
    )["hosts"]
    return hosts


def pin_bob(config: Path) -> None:
    store = KnownPeers(config, HOST)
    store.check("bob", BOB)
    store.save()


def bob_in_conflict(config: Path) -> None:
    """bob pinned to BOB, and a host since offered MALLORY under that nick."""
    pin_bob(config)
    store = KnownPeers(config, HOST)
    store.check("bob", MALLORY)
    store.save()
    assert stored(config)[HOST]["bob"]["offered"] == fingerprint(MALLORY)


def test_first_sight_records_when_it_was_seen(tmp_path: Path, clock: list[str]) -> None:
    """Eviction goes by last_seen: a pin written without it would be the first forgotten."""
    pin_bob(tmp_path)
    assert stored(tmp_path)[HOST]["bob"] == {
        "key": fingerprint(BOB),
        "first_seen": T0,
        "last_seen": T0,
    }


def test_pinned_is_the_pin_not_what_a_host_offers(tmp_path: Path) -> None:
    bob_in_conflict(tmp_path)
    store = KnownPeers(tmp_path, HOST)
    assert store.pinned("BOB") == fingerprint(BOB)  # nicks compare case-insensitively
    assert store.pinned("carol") is None


@pytest.mark.parametrize("by_hand", [False, True])
def test_accepting_the_key_already_pinned_changes_nothing(
    tmp_path: Path, clock: list[str], by_hand: bool
) -> None:
    """Neither the in-session accept nor ``severus trust accept-peer`` rewrites a pin
    that already says the same: first_seen keeps the history of the key."""
    pin_bob(tmp_path)
    before = (tmp_path / FILE_NAME).read_bytes()
    clock[0] = T1
    if by_hand:
        assert accept_peer(tmp_path, HOST, "Bob", fingerprint(BOB)) == (
            fingerprint(BOB),
            fingerprint(BOB),
        )
    else:
        KnownPeers(tmp_path, HOST).accept("Bob", fingerprint(BOB))
    assert (tmp_path / FILE_NAME).read_bytes() == before


@pytest.mark.parametrize("by_hand", [False, True])
def test_accepting_the_pinned_key_ends_a_conflict(
    tmp_path: Path, clock: list[str], by_hand: bool
) -> None:
    """The user vouches for the key they had: the offered key is dropped, the pin stays,
    and it counts as seen now."""
    bob_in_conflict(tmp_path)
    clock[0] = T1
    if by_hand:
        accept_peer(tmp_path, HOST, "bob", fingerprint(BOB))
    else:
        KnownPeers(tmp_path, HOST).accept("bob", fingerprint(BOB))
    entry = stored(tmp_path)[HOST]["bob"]
    assert entry["key"] == fingerprint(BOB) and entry["last_seen"] == T1
    assert "offered" not in entry


@pytest.mark.parametrize("by_hand", [False, True])
def test_accepting_another_key_replaces_the_pin(
    tmp_path: Path, clock: list[str], by_hand: bool
) -> None:
    """An explicit acceptance (``--peer``, ``/accept``, ``trust accept-peer``) is the one
    way a pin changes, conflict or not, and is written at once."""
    pin_bob(tmp_path)
    clock[0] = T1
    if by_hand:
        accept_peer(tmp_path, HOST, "bob", fingerprint(MALLORY))
    else:
        KnownPeers(tmp_path, HOST).accept("bob", fingerprint(MALLORY))
    assert stored(tmp_path)[HOST]["bob"] == {
        "key": fingerprint(MALLORY),
        "first_seen": T0,  # bob is known since T0: an acceptance is not a newer pin
        "last_seen": T1,
    }
    assert KnownPeers(tmp_path, HOST).check("bob", MALLORY) == (
        PeerVerdict.SAME,
        fingerprint(MALLORY),
    )


def test_a_session_keeps_saving_after_its_first_save(tmp_path: Path) -> None:
    """Sightings and acceptances after a save still reach the file."""
    store = KnownPeers(tmp_path, HOST)
    store.check("bob", BOB)
    store.save()
    store.check("carol", MALLORY)
    store.accept("dave", fingerprint(BOB))
    store.check("erin", BOB)
    store.save()
    assert set(stored(tmp_path)[HOST]) == {"bob", "carol", "dave", "erin"}


def test_a_malformed_host_section_costs_only_that_host(tmp_path: Path) -> None:
    """Losing the other hosts' pins would let their next key in unnoticed, as new."""
    entry = {"key": fingerprint(BOB), "first_seen": T0, "last_seen": T0}
    document = {"version": 1, "hosts": {"bad:1": ["not", "peers"], HOST: {"bob": entry}}}
    (tmp_path / FILE_NAME).write_text(json.dumps(document), encoding="utf-8")
    store = KnownPeers(tmp_path, HOST)
    assert store.problem is None
    assert store.check("bob", MALLORY) == (PeerVerdict.CHANGED, fingerprint(BOB))


def _peer(seen: str) -> dict[str, str]:
    return {"key": "SHA256:k", "first_seen": seen, "last_seen": seen}


def test_bounds_forget_by_last_seen_not_by_name_or_order() -> None:
    """The names and the order in the file run against the age: only last_seen decides,
    per host and in total; an entry without last_seen counts as the oldest."""
    hosts = {
        "a": {
            "amy": _peer("2026-01-09"),
            "bea": _peer("2026-01-08"),
            "zed": _peer("2026-01-01"),
            "old": {"key": "SHA256:k"},
        },
        "b": {"yan": _peer("2026-01-07"), "abe": _peer("2026-01-02")},
    }
    bound(hosts, per_host=3, total=4)
    assert hosts == {
        "a": {"amy": _peer("2026-01-09"), "bea": _peer("2026-01-08")},
        "b": {"yan": _peer("2026-01-07"), "abe": _peer("2026-01-02")},
    }
    bound(hosts, per_host=3, total=3)
    assert hosts == {
        "a": {"amy": _peer("2026-01-09"), "bea": _peer("2026-01-08")},
        "b": {"yan": _peer("2026-01-07")},
    }


def test_memory_is_trimmed_only_past_twice_the_cap_and_the_rest_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: list[str]
) -> None:
    """A session trims its nicks (a host inventing nicks) only past twice the per-host
    cap: every nick it has seen up to then keeps its pin, so a changed key under one of
    them is still caught. After a trim, what is kept is what gets saved."""
    monkeypatch.setattr(known_peers, "MAX_PEERS_PER_HOST", 5)
    monkeypatch.setattr(known_peers, "bound", lambda hosts: bound(hosts, 5, 100))
    store = KnownPeers(tmp_path, HOST)
    for i in range(10):
        clock[0] = f"2026-01-01T00:00:{i:02}Z"
        store.check(f"n{i}", bytes([i]) * 32)
    assert store.check("n0", MALLORY)[0] is PeerVerdict.CHANGED  # all ten still pinned
    clock[0] = "2026-01-01T00:01:00Z"
    store.check("n10", bytes([10]) * 32)  # the eleventh: trimmed to the five oldest pins
    # The newest pins go first (review of issue 11): a host inventing nicks forgets its
    # inventions, never the pins made before them (tests/test_review_known_peers_flush.py).
    assert store.pinned("n1") is not None and store.pinned("n10") is None
    store.save()
    assert set(stored(tmp_path)[HOST]) == {"n0", "n1", "n2", "n3", "n4"}
