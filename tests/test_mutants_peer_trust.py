"""The peer guard's less travelled paths: acceptance refused and what it leaves, --peer
keys that match, and the exact words of the warnings a user acts on."""

from __future__ import annotations

from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.peer_trust import (
    Conflict,
    PeerGuard,
    changed_peer_message,
    send_refusal,
)
from tests.test_client_core import key_of
from tests.test_peer_trust import HOST, MemoryStore

BOB, MALLORY, EVE, ANA = key_of("bob"), key_of("mallory"), key_of("eve"), key_of("ana")


def pinned_conflict(nick: str = "bob", source: str = "pin") -> Conflict:
    return Conflict(nick, fingerprint(BOB), fingerprint(MALLORY), MALLORY, source)


def test_a_send_refusal_says_where_each_trusted_key_came_from() -> None:
    pin, given = pinned_conflict("bob"), pinned_conflict("carol", "--peer")
    lines = send_refusal([pin, given], "key SHA256:host").split("\n")
    assert lines[0] == (
        f"bob's identity key has changed: pinned {fingerprint(BOB)}, the host gives "
        f"{fingerprint(MALLORY)}; nothing was encrypted to bob."
    )
    assert lines[1].startswith(
        f"carol's identity key has changed: given with --peer {fingerprint(BOB)},"
    )
    assert lines[2].startswith("If bob really has a new key")
    assert len(lines) == 3  # no count of deliveries unless there were any


def test_a_send_refusal_counts_what_was_delivered_to_the_others() -> None:
    lines = send_refusal([pinned_conflict()], HOST, delivered=2).split("\n")
    assert lines[1] == "2 message(s) were delivered to the others."
    assert send_refusal([pinned_conflict()], HOST, delivered=0).split("\n")[1] == (
        "0 message(s) were delivered to the others."
    )


def test_the_changed_key_warning_names_a_pin_as_a_pin() -> None:
    lines = changed_peer_message(pinned_conflict(), HOST).split("\n")
    assert lines[0] == "@@@ WARNING: BOB'S IDENTITY KEY HAS CHANGED! @@@"
    assert lines[1] == f"The key pinned for bob on this host is {fingerprint(BOB)};"
    assert lines[2] == f"the host now gives {fingerprint(MALLORY)}."
    given = changed_peer_message(pinned_conflict(source="--peer"), HOST).split("\n")
    assert given[1] == f"The key given with --peer for bob on this host is {fingerprint(BOB)};"


def test_a_key_made_up_for_our_own_nick_is_named_against_ours_and_never_accepted() -> None:
    guard = PeerGuard(MemoryStore(), HOST)
    guard.own_nick, guard.own_key = (lambda: "ana"), ANA
    warning = guard.check("Ana", MALLORY)
    assert warning is not None and f"(yours is {fingerprint(ANA)})" in warning
    guard.verified["ana"] = MALLORY
    accepted, _ = guard.accept("ana", MALLORY)
    assert accepted is False and guard.blocked("ana", MALLORY)


def test_an_accept_after_the_key_changed_again_is_refused() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), HOST)
    guard.check("bob", MALLORY)
    guard.verified["bob"] = MALLORY  # /verify showed this one...
    guard.check("bob", EVE)  # ...then the host swapped again
    accepted, text = guard.accept("bob", EVE)
    assert accepted is False and "/verify bob again" in text
    assert guard.blocked("bob", EVE)


def test_a_peer_option_key_that_matches_is_quiet_from_the_start() -> None:
    store = MemoryStore()
    guard = PeerGuard(store, HOST, {"bob": fingerprint(BOB)})
    assert guard.check("bob", BOB) is None
    assert not guard.conflicts and store.pins == {}


def test_an_accepted_key_outranks_the_peer_option_for_the_rest_of_the_session() -> None:
    store = MemoryStore()
    guard = PeerGuard(store, HOST, {"bob": fingerprint(BOB)})
    guard.check("bob", MALLORY)
    guard.verified["bob"] = MALLORY
    assert guard.accept("bob", MALLORY)[0] is True
    assert guard.check("bob", MALLORY) is None
    assert not guard.blocked("bob", MALLORY)


def test_after_an_accept_a_new_conflict_is_told_again_in_each_room() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), HOST)
    guard.check("bob", MALLORY)
    assert len(guard.recipients("r", [("bob", MALLORY)])[1]) == 1
    guard.verified["bob"] = MALLORY
    assert guard.accept("bob", MALLORY)[0] is True
    guard.check("bob", EVE)
    allowed, notices = guard.recipients("r", [("bob", EVE)])
    assert allowed == [] and len(notices) == 1


def test_a_message_that_went_without_a_blocked_key_remembers_which() -> None:
    guard = PeerGuard(MemoryStore({"bob": fingerprint(BOB)}), HOST)
    guard.check("bob", MALLORY)
    guard.recipients("r", [("bob", MALLORY), ("ana", ANA)])
    assert guard.skipped["bob"] == guard.conflicts["bob"]
    assert fingerprint(MALLORY) in send_refusal(list(guard.skipped.values()), HOST)
