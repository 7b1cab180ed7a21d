"""Bounds inside the keyring: what another member can make us store, compute or drop.

Each test plays a hostile member against an honest one through in-memory keyrings:
key hand-outs for rooms we do not share or without end, handshakes started in a loop,
junk that used to evict an honest member's held message, skipped counters, and a copy
of another member's epoch id.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import (
    EVICTED_REPORT_EVERY,
    HELLO_BURST,
    HELLO_RATE,
    Heard,
    Keyring,
    lost_notice,
)
from severus_cli.core.e2e.peer_keys import KEEP_EPOCHS, MAX_KEYS, MAX_KEYS_PER_SENDER
from severus_cli.core.e2e.pending import MAX_PENDING_PER_SENDER, PENDING_TTL
from severus_cli.core.e2e.sender_keys import OwnSenderKey
from severus_cli.core.e2e.wire import ChatBody
from severus_cli.errors import RemoteProtocolError
from tests.test_e2e_keyring import T0, Crowd, keypair


def shared(rooms: dict[str, set[str]]) -> Keyring:
    """bob's keyring, for whom ``rooms`` says who shares which room with him."""
    return Keyring(
        *keypair("bob"),
        "bob",
        shares_room=lambda nick, room: nick in rooms.get(room.casefold(), set()),
    )


def gift(crowd: Crowd, sender: str, to: str, own: OwnSenderKey) -> None:
    """``sender`` hands ``own`` to ``to`` over their pairwise session."""
    relays = crowd.rings[sender]._pairwise.send(
        crowd.keys[to], "key", wire.encode_gift(own.distribution()), to
    )
    crowd.relay(sender, crowd.rings[sender]._relays(relays))


# --- gifts -----------------------------------------------------------------------------------


def test_a_key_for_a_room_not_shared_is_not_kept() -> None:
    crowd = Crowd("bob", "mallory", "ana")
    crowd.rings["bob"] = shared({"rust": {"ana", "mallory"}, "lobby": {"ana", "mallory"}})
    for room in ("nowhere", "go", "RUST"):
        gift(crowd, "mallory", "bob", OwnSenderKey(room))
    assert crowd.rings["bob"].their_keys == 1  # only the key for rust
    # A room where the roster has ana but not mallory: ana's key is kept, mallory's not.
    crowd = Crowd("bob", "mallory", "ana")
    crowd.rings["bob"] = shared({"den": {"ana"}})
    gift(crowd, "mallory", "bob", OwnSenderKey("den"))
    gift(crowd, "ana", "bob", OwnSenderKey("den"))
    assert crowd.rings["bob"].their_keys == 1


def test_a_flood_of_keys_is_bounded_and_evicts_the_flooder_first() -> None:
    crowd = Crowd("bob", "ana", "mallory")
    honest = OwnSenderKey("room0")
    gift(crowd, "ana", "bob", honest)
    for i in range(MAX_KEYS_PER_SENDER * 2):
        gift(crowd, "mallory", "bob", OwnSenderKey(f"room{i % 64}"))
    ring = crowd.rings["bob"]
    # Per sender and room: KEEP_EPOCHS; per sender: MAX_KEYS_PER_SENDER.
    assert ring._theirs.count(crowd.keys["mallory"], "mallory") == MAX_KEYS_PER_SENDER
    assert ring.their_keys == MAX_KEYS_PER_SENDER + 1
    # ana's one key survived; her message opens.
    crowd.deliver(
        "ana", "room0", honest.seal(crowd.keys["ana"], wire.encode_body(ChatBody("x"))), "bob"
    )
    assert crowd.texts("bob") == ["x"]


def test_the_total_is_bounded_and_the_biggest_holder_loses_first() -> None:
    flooders = [f"m{i}" for i in range(MAX_KEYS // MAX_KEYS_PER_SENDER + 1)]
    crowd = Crowd("bob", "ana", *flooders)
    honest = OwnSenderKey("room0")
    gift(crowd, "ana", "bob", honest)
    ring = crowd.rings["bob"]
    for flooder in flooders:
        for i in range(MAX_KEYS_PER_SENDER):
            ring._theirs.store(
                crowd.keys[flooder], flooder, OwnSenderKey(f"r{i // KEEP_EPOCHS}").distribution()
            )
    assert ring.their_keys == MAX_KEYS
    assert ring._theirs.count(crowd.keys["ana"], "ana") == 1


# --- handshakes ------------------------------------------------------------------------------


def hellos(count: int) -> list[bytes]:
    """Step 01 messages as a hostile member forges them: a random ephemeral key each."""
    return [b"\x01" + os.urandom(32) for _ in range(count)]


def test_handshakes_started_in_a_loop_are_answered_at_a_small_rate() -> None:
    ring = Keyring(*keypair("bob"), "bob")
    mallory = keypair("mallory")[1]
    answered = 0
    for data in hellos(50):
        _, replies = ring.relayed("mallory", mallory, "hs", data, T0)
        answered += len(replies)
    assert answered == HELLO_BURST
    notices = ring.take_notices(T0)
    assert len(notices) == 1 and "mallory" in notices[0]  # once, naming them
    later = T0 + 1 / HELLO_RATE
    assert sum(len(ring.relayed("mallory", mallory, "hs", d, later)[1]) for d in hellos(5)) == 1
    assert ring.take_notices(later) == []  # not again so soon


def test_a_handshake_flood_does_not_stop_an_honest_session() -> None:
    crowd = Crowd("ana", "bob")
    mallory = keypair("mallory")[1]
    for data in hellos(50):
        crowd.rings["bob"].relayed("mallory", mallory, "hs", data, T0)
    crowd.relay("ana", crowd.rings["ana"].direct("bob", crowd.keys["bob"], ChatBody("hi")))
    assert crowd.texts("bob") == ["hi"]


def test_the_allowance_is_per_peer_and_comes_back_after_a_reconnect() -> None:
    ring = Keyring(*keypair("bob"), "bob")
    mallory = keypair("mallory")[1]
    for data in hellos(10):
        ring.relayed("mallory", mallory, "hs", data, T0)
    ring.peer_left(mallory, "mallory")
    assert ring.relayed("mallory", mallory, "hs", hellos(1)[0], T0)[1]


# --- held messages ---------------------------------------------------------------------------


def test_junk_does_not_evict_an_honest_senders_held_message() -> None:
    crowd = Crowd("ana", "bob", "mallory")
    relays, data = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("hi"))
    crowd.deliver("ana", "rust", data, "bob")  # held: the key is still on its way
    junk = OwnSenderKey("rust")
    for _ in range(MAX_PENDING_PER_SENDER * 10):
        crowd.deliver("mallory", "rust", junk.seal(crowd.keys["mallory"], b"junk"), "bob")
    ring = crowd.rings["bob"]
    assert ring.held == MAX_PENDING_PER_SENDER + 1
    crowd.relay("ana", relays)
    assert crowd.texts("bob") == ["hi"]
    (notice,) = ring.take_notices(T0)
    assert notice.startswith(f"{MAX_PENDING_PER_SENDER * 9} held room messages from mallory")
    # Reported at most every few seconds, summed by sender.
    crowd.deliver("mallory", "rust", junk.seal(crowd.keys["mallory"], b"junk"), "bob")
    assert ring.take_notices(T0 + EVICTED_REPORT_EVERY / 2) == []
    (notice,) = ring.take_notices(T0 + EVICTED_REPORT_EVERY)
    assert notice.startswith("1 held room message from mallory")


def test_expired_messages_are_reported_once_per_sender() -> None:
    crowd = Crowd("ana", "bob")
    own = OwnSenderKey("rust")
    for _ in range(3):
        crowd.deliver("ana", "rust", own.seal(crowd.keys["ana"], b"x"), "bob")
    (notice,) = crowd.rings["bob"].tick(T0 + PENDING_TTL)
    assert notice == "3 messages from ana could not be decrypted: their key never arrived"


# --- gaps ------------------------------------------------------------------------------------


def test_skipped_room_messages_are_counted() -> None:
    crowd = Crowd("ana", "bob")
    sealed = [crowd.seal("ana", "rust", ["bob"], f"m{i}") for i in range(5)]
    crowd.deliver("ana", "rust", sealed[0], "bob")
    crowd.deliver("ana", "rust", sealed[4], "bob")
    first, last = crowd.heard["bob"]
    assert (first.lost, last.lost) == (0, 3)
    assert (
        lost_notice(last)
        == "3 messages from ana in #rust were lost (the host did not deliver them)"
    )
    one = Heard("ana", "lobby", ChatBody("x"), 1.0, 1)
    assert (
        lost_notice(one)
        == "1 message from ana in the lobby was lost (the host did not deliver them)"
    )


def test_a_gap_before_a_held_message_is_counted_too() -> None:
    crowd = Crowd("ana", "bob")
    relays, _ = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("m0"))
    _, later = crowd.rings["ana"].seal("rust", [("bob", crowd.keys["bob"])], ChatBody("m1"))
    crowd.deliver("ana", "rust", later, "bob")  # m0 never comes
    crowd.relay("ana", relays)
    (heard,) = crowd.heard["bob"]
    assert (heard.body.text, heard.lost) == ("m1", 1)


# --- epoch squatting -------------------------------------------------------------------------


def squat(crowd: Crowd, squatter: str, victim_epoch: bytes, room: str, to: str) -> None:
    """``squatter`` hands ``to`` a key of its own that carries another member's epoch id."""
    gift(crowd, squatter, to, dataclasses.replace(OwnSenderKey(room), epoch=victim_epoch))


def test_a_copied_epoch_id_does_not_make_the_real_senders_message_forged() -> None:
    crowd = Crowd("bob", "carol", "mallory")
    relays, data = crowd.rings["bob"].seal("rust", [("carol", crowd.keys["carol"])], ChatBody("hi"))
    squat(crowd, "mallory", wire.decode_sealed(data).epoch, "rust", "carol")
    crowd.deliver("bob", "rust", data, "carol")  # held, not refused
    assert crowd.rings["carol"].take_forged() == []
    crowd.relay("bob", relays)
    assert crowd.texts("carol") == ["hi"]
    assert crowd.rings["carol"].take_forged() == []


def test_a_copied_epoch_id_arriving_while_the_message_is_held_changes_nothing() -> None:
    crowd = Crowd("bob", "carol", "mallory")
    relays, data = crowd.rings["bob"].seal("rust", [("carol", crowd.keys["carol"])], ChatBody("hi"))
    crowd.deliver("bob", "rust", data, "carol")
    squat(crowd, "mallory", wire.decode_sealed(data).epoch, "rust", "carol")
    assert crowd.rings["carol"].take_forged() == []
    crowd.relay("bob", relays)
    assert crowd.texts("carol") == ["hi"]


def test_a_message_really_signed_by_another_member_is_still_caught() -> None:
    crowd = Crowd("bob", "carol", "mallory")
    data = crowd.seal("mallory", "rust", ["carol"], "I am bob")
    with pytest.raises(RemoteProtocolError) as caught:  # relabelled as bob's by the host
        crowd.deliver("bob", "rust", data, "carol")
    assert caught.value.code == "e2e_forged"
    # And when the real sender's key comes after the relabelled message was held:
    relays, data = crowd.rings["mallory"].seal(
        "den", [("carol", crowd.keys["carol"])], ChatBody("x")
    )
    crowd.deliver("bob", "den", data, "carol")
    crowd.relay("mallory", relays)
    assert crowd.heard["carol"] == []
    assert crowd.rings["carol"].take_forged() == ["bob"]
