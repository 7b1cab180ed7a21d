"""known_peers at its edges: pins filed under a host's older address names, the exact
order in which the bounds forget, entries missing a field, and acceptance by hand of a
key that is already pinned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from severus_cli.core.trust import known_hosts, known_peers
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_peers import (
    FILE_NAME,
    KnownPeers,
    accept_peer,
    addresses_of,
    bound,
    merge_addresses,
    pinned_entry,
)
from severus_cli.errors import UsageError

HOST_FP, OTHER_FP = fingerprint(bytes([1]) * 32), fingerprint(bytes([9]) * 32)
LABEL = f"key {HOST_FP}"
BOB, EVIL, CAROL = (fingerprint(bytes([n]) * 32) for n in (2, 4, 3))
T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
NOW = "2026-06-01T00:00:00Z"
CUTOFF = "2026-03-03T00:00:00Z"  # 90 days before NOW


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    now = [NOW]
    monkeypatch.setattr(known_peers, "utc_now_iso", lambda: now[0])
    yield now


def pin(key: str, first: str = T0, last: str = T0, **extra: str) -> dict[str, str]:
    return {"key": key, "first_seen": first, "last_seen": last, **extra}


def write(config: Path, hosts: dict[str, dict[str, dict[str, str]]]) -> None:
    document = {"version": 1, "hosts": hosts}
    (config / FILE_NAME).write_text(json.dumps(document), encoding="utf-8")


def stored(config: Path) -> dict[str, dict[str, dict[str, str]]]:
    hosts: dict[str, dict[str, dict[str, str]]] = json.loads(
        (config / FILE_NAME).read_text(encoding="utf-8")
    )["hosts"]
    return hosts


# --- folding pins filed by address into the host's key ----------------------------------


def test_pins_under_older_names_are_folded_into_the_key_nick_by_nick() -> None:
    hosts = {
        "a:1": {"bob": pin(BOB), "carol": pin(CAROL)},
        "b:2": {"dan": pin(EVIL)},
        "c:3": {"eve": pin(EVIL)},  # not one of this host's names
    }
    assert merge_addresses(hosts, LABEL, ["a:1", "b:2", "gone:4"]) is True
    assert hosts == {
        "c:3": {"eve": pin(EVIL)},
        LABEL: {"bob": pin(BOB), "carol": pin(CAROL), "dan": pin(EVIL)},
    }


def test_with_no_pins_under_older_names_nothing_changes() -> None:
    hosts = {LABEL: {"bob": pin(BOB)}, "c:3": {"eve": pin(EVIL)}}
    assert merge_addresses(hosts, LABEL, ["a:1"]) is False
    assert hosts == {LABEL: {"bob": pin(BOB)}, "c:3": {"eve": pin(EVIL)}}


def test_a_pin_by_address_never_replaces_the_pin_by_key() -> None:
    hosts = {
        LABEL: {"bob": pin(BOB, T1, T1), "carol": pin(CAROL, T1, T1)},
        "a:1": {"bob": pin(EVIL, T0, T2), "carol": pin(CAROL, T2, T0)},
    }
    merge_addresses(hosts, LABEL, ["a:1"])
    # The key's pin stays and the other becomes its offered key; the sightings span both.
    assert hosts[LABEL]["bob"] == pin(BOB, T0, T2, offered=EVIL)
    assert hosts[LABEL]["carol"] == pin(CAROL, T1, T1)  # the same key: no conflict


def test_an_offer_on_file_under_an_address_is_kept_unless_one_is_there() -> None:
    hosts = {
        LABEL: {"bob": pin(BOB), "carol": pin(CAROL, offered=BOB)},
        "a:1": {"bob": pin(BOB, offered=EVIL), "carol": pin(CAROL, offered=EVIL)},
    }
    merge_addresses(hosts, LABEL, ["a:1"])
    assert hosts[LABEL]["bob"] == pin(BOB, offered=EVIL)
    assert hosts[LABEL]["carol"] == pin(CAROL, offered=BOB)  # the key's own offer stays


def test_sightings_missing_on_one_side_are_taken_from_the_other() -> None:
    hosts = {LABEL: {"bob": {"key": BOB}}, "a:1": {"bob": {"key": BOB, "last_seen": T1}}}
    merge_addresses(hosts, LABEL, ["a:1"])
    assert hosts[LABEL]["bob"] == {"key": BOB, "last_seen": T1}


def test_older_names_are_the_addresses_pinned_to_that_key(tmp_path: Path) -> None:
    for address, key in (("b.example:3000", HOST_FP), ("a.example:3000", HOST_FP)):
        known_hosts.pin(tmp_path, address, key, None, T0)
    known_hosts.pin(tmp_path, "c.example:3000", OTHER_FP, None, T0)
    assert addresses_of(tmp_path, LABEL) == ["a.example:3000", "b.example:3000"]
    assert addresses_of(tmp_path, "a.example:3000") == []  # a label by address has none
    assert addresses_of(tmp_path, f"key {fingerprint(bytes(32))}") == []


def test_a_broken_known_hosts_gives_no_older_names(tmp_path: Path) -> None:
    (tmp_path / known_hosts.FILE_NAME).write_text("{", encoding="utf-8")
    assert addresses_of(tmp_path, LABEL) == []


def test_a_session_folds_older_names_and_saves_them_folded(tmp_path: Path) -> None:
    known_hosts.pin(tmp_path, "a.example:3000", HOST_FP, None, T0)
    write(tmp_path, {"a.example:3000": {"bob": pin(BOB)}})
    peers = KnownPeers(tmp_path, LABEL)
    assert peers.pinned("bob") == BOB
    peers.save()  # nothing seen, but the fold itself is written
    assert stored(tmp_path) == {LABEL: {"bob": pin(BOB)}}


def test_accepting_the_pinned_key_still_writes_the_fold(tmp_path: Path) -> None:
    known_hosts.pin(tmp_path, "a.example:3000", HOST_FP, None, T0)
    write(tmp_path, {"a.example:3000": {"bob": pin(BOB)}, "c:3": {"eve": pin(EVIL)}})
    assert accept_peer(tmp_path, LABEL, "Bob", BOB) == (BOB, BOB)
    assert stored(tmp_path) == {LABEL: {"bob": pin(BOB)}, "c:3": {"eve": pin(EVIL)}}


def test_what_is_on_file_for_a_nick_is_read_with_the_fold(tmp_path: Path) -> None:
    assert pinned_entry(tmp_path, LABEL, "bob") is None  # no file yet
    known_hosts.pin(tmp_path, "a.example:3000", HOST_FP, None, T0)
    write(tmp_path, {"a.example:3000": {"bob": pin(BOB, offered=EVIL)}})
    assert pinned_entry(tmp_path, LABEL, "BOB") == pin(BOB, offered=EVIL)
    assert pinned_entry(tmp_path, LABEL, "carol") is None
    assert pinned_entry(tmp_path, f"key {OTHER_FP}", "bob") is None  # another host
    assert stored(tmp_path) == {"a.example:3000": {"bob": pin(BOB, offered=EVIL)}}  # read only


# --- acceptance by hand -----------------------------------------------------------------


def test_nothing_to_accept_names_the_nick_the_host_and_the_file(tmp_path: Path) -> None:
    write(tmp_path, {LABEL: {"bob": pin(BOB)}})
    with pytest.raises(UsageError) as caught:
        accept_peer(tmp_path, LABEL, "Carol", None)
    path = tmp_path / FILE_NAME
    assert caught.value.message.startswith(f"Carol on {LABEL} is not known (in {path});")
    with pytest.raises(UsageError) as caught:
        accept_peer(tmp_path, LABEL, "bob", None)
    assert caught.value.message.startswith(f"bob on {LABEL} has no changed key to accept")


def test_accepting_for_an_entry_without_sightings_dates_it_now(
    tmp_path: Path, clock: list[str]
) -> None:
    write(tmp_path, {LABEL: {"bob": {"key": BOB, "offered": EVIL}}})
    accept_peer(tmp_path, LABEL, "bob", None)
    assert stored(tmp_path)[LABEL]["bob"] == pin(EVIL, NOW, NOW)


def test_a_session_accepting_for_an_entry_without_sightings_dates_it_now(
    tmp_path: Path, clock: list[str]
) -> None:
    write(tmp_path, {LABEL: {"bob": {"key": BOB}}})
    peers = KnownPeers(tmp_path, LABEL)
    peers.accept("bob", EVIL)
    assert stored(tmp_path)[LABEL]["bob"] == pin(EVIL, NOW, NOW)


# --- the order in which the bounds forget -----------------------------------------------


def test_a_pin_seen_exactly_ninety_days_ago_is_not_yet_stale() -> None:
    hosts = {"h": {"edge": pin(BOB, T0, CUTOFF), "newer": pin(BOB, T1, NOW)}}
    bound(hosts, per_host=1, now=NOW)  # not stale: the newest pin goes first
    assert list(hosts["h"]) == ["edge"]
    hosts = {"h": {"edge": pin(BOB, T2, CUTOFF), "older": pin(BOB, T1, NOW)}}
    bound(hosts, per_host=1, now=NOW)
    assert list(hosts["h"]) == ["older"]


def test_fresh_pins_go_newest_first_whatever_their_order_on_file() -> None:
    hosts = {"h": {"new": pin(BOB, T2, NOW), "old": pin(BOB, T0, NOW), "mid": pin(BOB, T1, NOW)}}
    bound(hosts, per_host=1, now=NOW)
    assert list(hosts["h"]) == ["old"]


def test_of_pins_made_at_once_the_later_on_file_goes_first() -> None:
    hosts = {"h": {"zed": pin(BOB, T1, NOW), "abe": pin(BOB, T1, NOW)}}
    bound(hosts, per_host=1, now=NOW)
    assert list(hosts["h"]) == ["zed"]


def test_a_pin_with_no_first_sighting_counts_as_the_oldest() -> None:
    hosts = {"h": {"undated": {"key": BOB, "last_seen": NOW}, "dated": pin(BOB, T0, NOW)}}
    bound(hosts, per_host=1, now=NOW)
    assert list(hosts["h"]) == ["undated"]


def test_nicks_in_conflict_go_least_recently_seen_first() -> None:
    hosts = {
        "h": {
            "abe": pin(BOB, T0, T2, offered=EVIL),
            "zed": pin(BOB, T0, T1, offered=EVIL),
            "amy": pin(BOB, T0, T0, offered=EVIL),
        }
    }
    bound(hosts, per_host=2, now=NOW)
    assert list(hosts["h"]) == ["abe", "zed"]


def test_with_no_usable_clock_nothing_counts_as_stale() -> None:
    hosts = {"h": {"long_unseen": pin(BOB, T0, T0), "newer": pin(BOB, T1, T2)}}
    bound(hosts, per_host=1, now="not a time")
    assert list(hosts["h"]) == ["long_unseen"]  # the newest pin went, as if all were fresh


def test_a_session_keeps_every_nick_up_to_twice_the_cap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: list[str]
) -> None:
    monkeypatch.setattr(known_peers, "MAX_PEERS_PER_HOST", 5)
    monkeypatch.setattr(known_peers, "bound", lambda hosts: bound(hosts, 5, 100, NOW))
    peers = KnownPeers(tmp_path, LABEL)
    for i in range(10):
        peers.check(f"n{i}", bytes([i]) * 32)
    assert all(peers.pinned(f"n{i}") is not None for i in range(10))
