"""known_peers: each nick's key per host, remembered across sessions; a change never
replaces the pin by itself."""

from __future__ import annotations

import json
import multiprocessing
import stat
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from severus_cli.core.store import files
from severus_cli.core.trust import known_peers
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_peers import FILE_NAME, KnownPeers
from severus_cli.core.trust.peer_trust import PeerVerdict

NEW, SAME, CHANGED = PeerVerdict.NEW, PeerVerdict.SAME, PeerVerdict.CHANGED

BOB = bytes(range(32))
MALLORY = bytes(range(1, 33))
HOST = "127.0.0.1:3000"


def stored(config: Path) -> dict[str, dict[str, dict[str, str]]]:
    document = json.loads((config / FILE_NAME).read_text())
    assert document["version"] == 1
    hosts: dict[str, dict[str, dict[str, str]]] = document["hosts"]
    return hosts


def test_first_sight_is_remembered_quietly(tmp_path: Path) -> None:
    peers = KnownPeers(tmp_path, HOST)
    assert peers.problem is None
    assert peers.check("Bob", BOB) == (NEW, None)
    assert peers.check("bob", BOB) == (SAME, fingerprint(BOB))  # the same nick, the same key
    assert not (tmp_path / FILE_NAME).exists()  # checked in memory, written on save
    peers.save()
    entry = stored(tmp_path)[HOST]["bob"]
    assert entry["key"] == fingerprint(BOB)
    assert entry["first_seen"].endswith("Z") and entry["last_seen"] >= entry["first_seen"]
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    # The next session knows bob.
    assert KnownPeers(tmp_path, HOST).check("BOB", BOB)[0] is SAME


def test_a_changed_key_keeps_the_pin_in_every_session(tmp_path: Path) -> None:
    first = KnownPeers(tmp_path, HOST)
    first.check("bob", BOB)
    first.save()
    for _ in range(2):  # every session, not just the first
        later = KnownPeers(tmp_path, HOST)
        assert later.check("Bob", MALLORY) == (CHANGED, fingerprint(BOB))
        assert later.check("bob", MALLORY) == (CHANGED, fingerprint(BOB))
        later.save()
        entry = stored(tmp_path)[HOST]["bob"]
        assert entry["key"] == fingerprint(BOB)  # never re-pinned by what a host says
        assert entry["offered"] == fingerprint(MALLORY)
    back = KnownPeers(tmp_path, HOST)
    assert back.check("bob", BOB) == (SAME, fingerprint(BOB))  # the real bob is back
    back.save()
    assert "offered" not in stored(tmp_path)[HOST]["bob"]


def test_keys_are_per_host(tmp_path: Path) -> None:
    here = KnownPeers(tmp_path, HOST)
    here.check("bob", BOB)
    here.save()
    elsewhere = KnownPeers(tmp_path, "example.org:3000")
    assert elsewhere.check("bob", MALLORY)[0] is NEW  # another host's bob
    elsewhere.save()
    hosts = stored(tmp_path)
    assert hosts[HOST]["bob"]["key"] == fingerprint(BOB)
    assert hosts["example.org:3000"]["bob"]["key"] == fingerprint(MALLORY)


def test_save_merges_with_what_others_saved(tmp_path: Path) -> None:
    one, two = KnownPeers(tmp_path, HOST), KnownPeers(tmp_path, HOST)
    one.check("bob", BOB)
    two.check("carol", MALLORY)
    one.save()
    two.save()  # loaded before one saved: must not lose bob
    assert set(stored(tmp_path)[HOST]) == {"bob", "carol"}
    assert (tmp_path / (FILE_NAME + ".lock")).exists()


def test_save_takes_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    held: list[Path] = []
    real = files.locked

    def spy(path: Path) -> AbstractContextManager[None]:
        held.append(path)
        return real(path)

    monkeypatch.setattr(known_peers, "locked", spy)
    peers = KnownPeers(tmp_path, HOST)
    peers.save()
    assert held == []  # nothing changed, nothing written
    peers.check("bob", BOB)
    peers.save()
    assert held == [tmp_path / FILE_NAME]
    peers.save()
    assert held == [tmp_path / FILE_NAME]  # saved changes are not written again


def _save_many(config: str, worker: int, count: int) -> None:
    for i in range(count):
        peers = KnownPeers(Path(config), HOST)
        peers.check(f"w{worker}-n{i}", bytes([worker, i]) * 16)
        peers.save()


def test_concurrent_savers_lose_nothing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers, per_worker = 6, 8
    processes = [
        context.Process(target=_save_many, args=(str(tmp_path), w, per_worker))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    entries = stored(tmp_path)[HOST]
    assert len(entries) == workers * per_worker
    assert entries["w3-n5"]["key"] == fingerprint(bytes([3, 5]) * 16)


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"version": 2, "hosts": {}}',
        b'{"version": 1, "hosts": []}',
        b'{"version": 1}',
    ],
    ids=["json", "utf8", "list", "version", "hosts-list", "no-hosts"],
)
def test_a_corrupt_file_is_reported_not_raised(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    peers = KnownPeers(tmp_path, HOST)
    assert peers.problem is not None and str(path) in peers.problem
    assert peers.check("bob", BOB)[0] is NEW  # the chat goes on, unchecked
    assert peers.check("bob", MALLORY)[0] is CHANGED  # within the session it still holds
    peers.save()  # quietly does nothing...
    assert path.read_bytes() == content  # ...and leaves the file for the user to look at


def test_a_file_that_breaks_between_load_and_save(tmp_path: Path) -> None:
    peers = KnownPeers(tmp_path, HOST)
    peers.check("bob", BOB)
    (tmp_path / FILE_NAME).write_bytes(b"garbage")
    peers.save()  # no exception
    assert (tmp_path / FILE_NAME).read_bytes() == b"garbage"


def test_malformed_entries_are_skipped(tmp_path: Path) -> None:
    document = {
        "version": 1,
        "hosts": {
            HOST: {
                "bob": {"key": fingerprint(BOB), "first_seen": "x", "junk": "dropped"},
                "carol": "not a map",
                "dave": {"key": 5},
            },
            "other:1": ["not", "a", "map"],
        },
    }
    (tmp_path / FILE_NAME).write_text(json.dumps(document))
    peers = KnownPeers(tmp_path, HOST)
    assert peers.problem is None
    assert peers.check("bob", BOB)[0] is SAME
    assert peers.check("carol", BOB)[0] is NEW  # unknown: first sight
    assert peers.check("dave", BOB)[0] is NEW
    peers.save()
    assert stored(tmp_path)[HOST]["bob"].keys() == {"key", "first_seen", "last_seen"}
