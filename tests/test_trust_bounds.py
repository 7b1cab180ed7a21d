"""What a session remembers about peer-key warnings stays bounded, whatever the host
makes up: a new key for bob on every roster update, or rooms without end."""

from __future__ import annotations

import os

from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.peer_trust import MAX_REMEMBERED, PeerGuard, Remembered
from tests.test_client_core import key_of
from tests.test_peer_trust import MemoryStore

BOB = key_of("bob")


def test_a_host_inventing_keys_cannot_grow_the_warnings_remembered() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), "key SHA256:host")
    shown = 0
    for _ in range(3 * MAX_REMEMBERED):
        shown += guard.check("bob", os.urandom(32)) is not None
    assert shown == 3 * MAX_REMEMBERED  # every new key is announced loudly
    assert len(guard._warned) <= MAX_REMEMBERED
    assert len(guard.conflicts) == 1


def test_a_host_inventing_rooms_cannot_grow_the_notices_remembered() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), "key SHA256:host")
    evil = os.urandom(32)
    guard.check("bob", evil)
    for n in range(3 * MAX_REMEMBERED):
        allowed, notices = guard.recipients(f"room{n}", [("bob", evil)])
        assert allowed == [] and len(notices) == 1
    assert len(guard._told) <= MAX_REMEMBERED


def test_the_same_warning_is_shown_once_while_remembered() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), "key SHA256:host")
    evil = os.urandom(32)
    assert guard.check("bob", evil) is not None
    assert guard.check("bob", evil) is None


def test_remembered_forgets_the_oldest_first() -> None:
    seen = Remembered(limit=2)
    seen.add(("a", "1"))
    seen.add(("b", "1"))
    seen.add(("a", "1"))  # seen again: now the newest
    seen.add(("c", "1"))
    assert ("a", "1") in seen and ("c", "1") in seen and ("b", "1") not in seen
    seen.forget_nick("a")
    assert ("a", "1") not in seen and len(seen) == 1
