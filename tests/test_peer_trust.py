"""Peer keys: first sight pins, a changed key is blocked (never re-pinned) until the user
accepts it, and the client core encrypts nothing to a blocked key.

Pure decisions first (:mod:`severus_cli.core.trust.peer_trust`), then the store's bounds and
hand acceptance (:mod:`severus_cli.core.trust.known_peers`), then the client core wired to a
guard, with no sockets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from severus_cli.core.client import events as ev
from severus_cli.core.client.core import ClientCore
from severus_cli.core.e2e import wire
from severus_cli.core.trust import known_peers
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_peers import FILE_NAME, KnownPeers, bound
from severus_cli.core.trust.peer_trust import PeerGuard, PeerVerdict, judge_peer, send_refusal
from severus_cli.core.wire import packets as p
from severus_cli.errors import UsageError
from severus_cli.runtime.controller import accept_key
from tests.test_client_core import T0, Peer, feed, key_of, registered, sent, warnings

BOB, MALLORY, CAROL = key_of("bob"), key_of("mallory"), key_of("Carol")
HOST = "127.0.0.1:3000"


class MemoryStore:
    """known_peers without a file: enough for the guard's decisions."""

    def __init__(self, pins: dict[str, str] | None = None) -> None:
        self.pins = dict(pins or {})
        self.accepted: list[tuple[str, str]] = []

    def check(self, nick: str, key: bytes) -> tuple[PeerVerdict, str | None]:
        pinned = self.pins.get(nick.casefold())
        verdict = judge_peer(pinned, fingerprint(key))
        if verdict is PeerVerdict.NEW:
            self.pins[nick.casefold()] = fingerprint(key)
        return verdict, pinned

    def accept(self, nick: str, key_fp: str) -> None:
        self.pins[nick.casefold()] = key_fp
        self.accepted.append((nick, key_fp))


# --- pure decisions -------------------------------------------------------------------


def test_judge_peer() -> None:
    assert judge_peer(None, "SHA256:a") is PeerVerdict.NEW
    assert judge_peer("SHA256:a", "SHA256:a") is PeerVerdict.SAME
    assert judge_peer("SHA256:a", "SHA256:b") is PeerVerdict.CHANGED


def test_first_sight_pins_quietly_and_nothing_is_blocked() -> None:
    store = MemoryStore()
    guard = PeerGuard(store, HOST)
    assert guard.check("bob", BOB) is None
    assert store.pins == {"bob": fingerprint(BOB)}
    assert not guard.blocked("bob", BOB)
    assert guard.recipients("lobby", [("bob", BOB)]) == ([("bob", BOB)], [])


def test_a_changed_key_is_blocked_and_announced_loudly_with_both_fingerprints() -> None:
    store = MemoryStore({"bob": fingerprint(BOB)})
    guard = PeerGuard(store, HOST)
    warning = guard.check("Bob", MALLORY)
    assert warning is not None
    assert "BOB'S IDENTITY KEY HAS CHANGED" in warning
    assert fingerprint(BOB) in warning and fingerprint(MALLORY) in warning
    assert "/verify Bob" in warning and "/accept Bob" in warning
    assert f"severus trust accept-peer {HOST} Bob" in warning
    assert store.pins["bob"] == fingerprint(BOB)  # the pin stays
    assert guard.check("bob", MALLORY) is None  # said once a session...
    assert guard.blocked("BOB", MALLORY)  # ...blocked all along
    assert not guard.blocked("bob", BOB)  # only the unaccepted key
    assert not guard.blocked("carol", MALLORY)
    # A new session over the same store announces it again.
    assert PeerGuard(store, HOST).check("bob", MALLORY) is not None


def test_room_recipients_skip_a_blocked_key_and_say_so_once_per_room() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), HOST)
    guard.check("bob", MALLORY)
    guard.check("carol", CAROL)
    members = [("bob", MALLORY), ("carol", CAROL)]
    allowed, notices = guard.recipients("lobby", members)
    assert allowed == [("carol", CAROL)]
    assert len(notices) == 1 and "not encrypted to bob" in notices[0]
    assert guard.recipients("lobby", members) == ([("carol", CAROL)], [])
    assert len(guard.recipients("rust", members)[1]) == 1  # another room: said again
    assert list(guard.skipped) == ["bob"]


def test_the_pinned_key_coming_back_ends_the_conflict() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), HOST)
    guard.check("bob", MALLORY)
    assert guard.check("bob", BOB) is None
    assert not guard.conflicts and not guard.blocked("bob", MALLORY)


def test_accept_replaces_the_pin_only_for_the_presented_key() -> None:
    store = MemoryStore({"bob": fingerprint(BOB)})
    guard = PeerGuard(store, HOST)
    guard.check("bob", MALLORY)
    guard.recipients("lobby", [("bob", MALLORY)])
    assert guard.accept("bob", BOB)[0] is False  # not the key in conflict
    accepted, text = guard.accept("bob", MALLORY)
    assert not accepted and "first /verify bob" in text  # never compared: refused
    guard.verified["bob"] = MALLORY  # what /verify bob records
    accepted, text = guard.accept("bob", MALLORY)
    assert accepted and fingerprint(MALLORY) in text and fingerprint(BOB) in text
    assert store.pins["bob"] == fingerprint(MALLORY)
    assert not guard.blocked("bob", MALLORY) and not guard.skipped
    assert guard.accept("bob", MALLORY)[0] is False  # nothing left to accept


def test_peer_option_trusts_only_the_given_key() -> None:
    store = MemoryStore()
    guard = PeerGuard(store, "key SHA256:host", {"Bob": fingerprint(BOB)})
    warning = guard.check("bob", MALLORY)  # no pin at all: --peer still decides
    assert warning is not None and "given with --peer" in warning
    assert guard.blocked("bob", MALLORY)
    assert "bob" not in store.pins  # the wrong key is not pinned either
    refusal = send_refusal(list(guard.conflicts.values()), guard.label)
    assert fingerprint(BOB) in refusal and fingerprint(MALLORY) in refusal
    assert "accept-peer SHA256:host bob" in refusal  # tickets name the host by key
    assert guard.check("bob", BOB) is None
    assert store.accepted == [] and not guard.conflicts  # a check: the store is left alone


# --- the store: conflicts on file, acceptance by hand, bounds --------------------------


def _document(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    hosts: dict[str, dict[str, dict[str, str]]] = json.loads(path.read_text())["hosts"]
    return hosts


def test_guard_over_known_peers_warns_in_every_session(tmp_path: Path) -> None:
    first = KnownPeers(tmp_path, HOST)
    PeerGuard(first, HOST).check("bob", BOB)
    first.save()
    for _ in range(3):
        store = KnownPeers(tmp_path, HOST)
        assert PeerGuard(store, HOST).check("bob", MALLORY) is not None
        store.save()
    assert _document(tmp_path / FILE_NAME)[HOST]["bob"]["key"] == fingerprint(BOB)


def test_accept_in_a_session_is_written_at_once(tmp_path: Path) -> None:
    store = KnownPeers(tmp_path, HOST)
    store.check("bob", BOB)
    store.save()
    store = KnownPeers(tmp_path, HOST)
    guard = PeerGuard(store, HOST)
    guard.check("bob", MALLORY)
    guard.verified["bob"] = MALLORY
    guard.accept("bob", MALLORY)
    entry = _document(tmp_path / FILE_NAME)[HOST]["bob"]  # no save() needed
    assert entry["key"] == fingerprint(MALLORY) and "offered" not in entry
    assert PeerGuard(KnownPeers(tmp_path, HOST), HOST).check("bob", MALLORY) is None


def test_a_session_never_overwrites_a_pin_accepted_elsewhere(tmp_path: Path) -> None:
    seed = KnownPeers(tmp_path, HOST)
    seed.check("bob", BOB)
    seed.save()
    session = KnownPeers(tmp_path, HOST)
    session.check("bob", MALLORY)  # in conflict, in memory
    known_peers.accept_peer(tmp_path, HOST, "bob", fingerprint(MALLORY))  # meanwhile
    session.save()
    assert _document(tmp_path / FILE_NAME)[HOST]["bob"]["key"] == fingerprint(MALLORY)
    racer = KnownPeers(tmp_path, "other:1")
    racer.check("bob", CAROL)  # first sight here, while another session pins bob first
    known_peers.accept_peer(tmp_path, "other:1", "bob", fingerprint(BOB))
    racer.save()
    assert _document(tmp_path / FILE_NAME)["other:1"]["bob"]["key"] == fingerprint(BOB)


def test_accept_peer_by_hand(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not known"):
        known_peers.accept_peer(tmp_path, HOST, "bob", None)
    store = KnownPeers(tmp_path, HOST)
    store.check("bob", BOB)
    store.save()
    with pytest.raises(UsageError, match="no changed key"):
        known_peers.accept_peer(tmp_path, HOST, "bob", None)
    store = KnownPeers(tmp_path, HOST)
    store.check("bob", MALLORY)
    store.save()
    old, new = known_peers.accept_peer(tmp_path, HOST, "Bob", None)  # the offered key
    assert (old, new) == (fingerprint(BOB), fingerprint(MALLORY))
    assert known_peers.accept_peer(tmp_path, HOST, "bob", new) == (new, new)
    old, new = known_peers.accept_peer(tmp_path, HOST, "carol", fingerprint(CAROL))
    assert (old, new) == ("", fingerprint(CAROL))  # pinned up front
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600


def _entry(seen: str, offered: bool = False) -> dict[str, str]:
    entry = {"key": "SHA256:k", "first_seen": seen, "last_seen": seen}
    return entry | {"offered": "SHA256:o"} if offered else entry


def test_bound_evicts_least_recently_seen_never_a_conflict() -> None:
    hosts = {
        "a": {f"n{i}": _entry(f"2026-01-{i + 10:02}") for i in range(6)},
        "b": {"old": _entry("2020-01-01", offered=True), "x": _entry("2026-02-01")},
    }
    bound(hosts, per_host=4, total=5)
    assert set(hosts["a"]) == {"n3", "n4", "n5"}  # per host: n0, n1 went; in total: n2
    assert set(hosts["b"]) == {"old", "x"}  # the oldest of all is in conflict: kept
    only_conflicts = {"c": {f"c{i}": _entry(f"2026-03-{i + 10:02}", True) for i in range(3)}}
    bound(only_conflicts, per_host=10, total=2)  # nothing else left: oldest conflict goes
    assert set(only_conflicts["c"]) == {"c1", "c2"}


def test_a_host_inventing_nicks_cannot_grow_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_peers, "MAX_PEERS_PER_HOST", 20)
    monkeypatch.setattr(known_peers, "bound", lambda hosts: bound(hosts, 20, 30))
    store = KnownPeers(tmp_path, "good:1")
    store.check("bob", BOB)
    store.save()
    store = KnownPeers(tmp_path, "good:1")
    store.check("bob", MALLORY)  # a conflict on another host...
    store.save()
    for host in ("evil:1", "evil:2"):
        evil = KnownPeers(tmp_path, host)
        for i in range(500):
            evil.check(f"n{i}", bytes([i % 256, i // 256]) * 16)
        assert len(evil._peers) <= 40  # bounded in memory too
        evil.save()
    hosts = _document(tmp_path / FILE_NAME)
    assert sum(len(peers) for peers in hosts.values()) <= 30
    assert all(len(peers) <= 20 for peers in hosts.values())
    assert hosts["good:1"]["bob"]["offered"] == fingerprint(MALLORY)  # ...survives


# --- the client core with a guard -----------------------------------------------------


def conflicted(rooms: tuple[str, ...] = ()) -> tuple[ClientCore, PeerGuard]:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(key_of("real bob"))}), HOST)
    return registered(rooms=rooms, peer_guard=guard), guard


def test_welcome_with_a_substituted_key_warns_loudly() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(key_of("real bob"))}), HOST)
    client = registered(peer_guard=guard, users=())
    events = feed(client, p.Joined("bob", "lobby", 2, BOB))
    (warning,) = warnings(events)
    assert "HAS CHANGED" in warning and fingerprint(BOB) in warning


def test_nothing_is_encrypted_to_a_blocked_key_until_it_is_accepted() -> None:
    client, _ = conflicted()
    events = client.tell("bob", "secret", T0)
    assert [e.level for e in events if isinstance(e, ev.Notice)] == ["error"]
    assert not any(isinstance(e, ev.DirectMessage) for e in events)
    assert sent(client) == []  # not even a handshake
    events = client.say("for everyone", T0)
    assert any("not encrypted to bob" in text for text in warnings(events))
    relays = [q for q in sent(client) if isinstance(q, p.Relay)]
    assert {q.to for q in relays} == {"Carol"}  # the sender key went to Carol only
    # The user compares /verify codes and accepts: bob gets keys from now on.
    client.verify("bob", T0)
    (notice,) = accept_key(client, "bob", T0)
    assert isinstance(notice, ev.Notice) and "accepted" in notice.text
    client.say("now bob too", T0)
    assert "bob" in {q.to for q in sent(client) if isinstance(q, p.Relay)}
    queued = client.keyring.queued  # sender keys, waiting for the sessions to open
    client.tell("bob", "hi", T0)
    assert client.keyring.queued == queued + 1  # and now the private message to bob


def test_what_a_blocked_key_says_is_not_shown() -> None:
    client, _ = conflicted()
    bob = Peer(client, "bob")  # the key the host handed out for bob
    data = bob.say("lobby", "I am bob")
    events = feed(client, p.Sealed("bob", "lobby", data, 1.0))
    assert not any(isinstance(e, ev.ChatMessage) for e in events)
    assert any("was not shown" in text for text in warnings(events))
    events = bob.send(bob.ring.direct("ana", client.key, wire.ChatBody("psst")))
    assert not any(isinstance(e, ev.DirectMessage) for e in events)
    assert any("was not shown" in text for text in warnings(events))
    assert bob.heard == []  # and we told it nothing
    client.verify("bob", T0)
    accept_key(client, "bob", T0)
    events = bob.send(bob.ring.direct("ana", client.key, wire.ChatBody("again")))
    assert events == [ev.DirectMessage(T0, "bob", "again", False)]


def test_a_foreign_key_under_our_own_nick_gets_nothing() -> None:
    client = registered(users=())  # a guard with no store: no pins at all
    events = feed(client, p.Roster((("ana", MALLORY), ("Carol", CAROL))))
    (warning,) = warnings(events)
    assert "your own nick ana" in warning and fingerprint(MALLORY) in warning
    client.say("hello", T0)
    assert {q.to for q in sent(client) if isinstance(q, p.Relay)} == {"Carol"}
    (notice,) = accept_key(client, "ana", T0)
    assert isinstance(notice, ev.Notice) and "never accepted" in notice.text


def test_accept_peer_names_ticket_hosts_by_key() -> None:
    from severus_cli.commands.trust_cmds import peer_host_label

    key_fp = fingerprint(BOB)
    assert peer_host_label(key_fp) == f"key {key_fp}"  # as join by ticket labels it
    assert peer_host_label("LOCALHOST") == "localhost:3000"
    with pytest.raises(UsageError):
        peer_host_label("SHA256:short")
