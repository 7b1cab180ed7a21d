"""The keyring's bookkeeping: keys handed again, held messages taken back, warnings kept
and forgotten, and a new nick of our own."""

from __future__ import annotations

import dataclasses
import os

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import HELLO_WARN_EVERY, Keyring
from severus_cli.core.e2e.peer_keys import KEEP_EPOCHS, PeerKeys
from severus_cli.core.e2e.pending import MAX_PENDING, MAX_PENDING_PER_SENDER, Held, Pending
from severus_cli.core.e2e.sender_keys import OwnSenderKey
from severus_cli.core.e2e.wire import ChatBody
from tests.test_e2e_keyring import T0, Crowd, keypair

SENDER = bytes(range(32))

# --- keys handed to us -----------------------------------------------------------------------


def test_a_key_handed_again_is_kept_once_and_becomes_the_newest() -> None:
    keys = PeerKeys()
    gifts = [OwnSenderKey("rust").distribution() for _ in range(KEEP_EPOCHS)]
    for gift in gifts:
        keys.store(SENDER, "ana", gift)
    keys.store(SENDER, "ana", gifts[0])  # again
    assert len(keys) == KEEP_EPOCHS
    assert keys.count(SENDER, "ana") == KEEP_EPOCHS
    assert keys.get((SENDER, "ana", "rust"), gifts[0].epoch) is not None
    keys.store(SENDER, "ana", OwnSenderKey("rust").distribution())  # the oldest goes
    assert keys.get((SENDER, "ana", "rust"), gifts[1].epoch) is None
    assert keys.get((SENDER, "ana", "rust"), gifts[0].epoch) is not None


def test_the_only_key_handed_again_stays() -> None:
    keys = PeerKeys()
    gift = OwnSenderKey("rust").distribution()
    keys.store(SENDER, "ana", gift)
    keys.store(SENDER, "ana", gift)
    assert (len(keys), keys.count(SENDER, "ana")) == (1, 1)
    assert keys.get((SENDER, "ana", "rust"), gift.epoch) is not None


def test_forgetting_a_sender_forgets_its_keys_and_their_count() -> None:
    keys = PeerKeys()
    gifts = [OwnSenderKey(room).distribution() for room in ("rust", "rust", "den")]
    for gift in gifts:
        keys.store(SENDER, "ana", gift)
    keys.store(bytes(32), "bob", OwnSenderKey("rust").distribution())
    keys.forget_sender(SENDER)
    assert (len(keys), keys.count(SENDER, "ana"), keys.count(bytes(32), "bob")) == (1, 0, 1)
    assert all(keys.get((SENDER, "ana", g.room), g.epoch) is None for g in gifts)


# --- held messages ---------------------------------------------------------------------------


def pending(nick: str, size: int) -> Pending:
    sealed = wire.Sealed(bytes(8), 0, bytes(size), bytes(64))
    return Pending(T0, SENDER, nick, "rust", sealed, T0)


def test_a_message_taken_back_no_longer_counts_for_who_loses_first() -> None:
    held = Held()
    ana = [pending("ana", 1000) for _ in range(3)]
    for item in ana:
        held.add(item)
    assert held.take(lambda item: item is ana[0]) == [ana[0]]  # ana now holds 2 x 1128 bytes
    held.add(pending("bob", 1500))  # bob holds 1628 bytes: less than ana
    for n in range(MAX_PENDING - 3):
        held.add(pending(f"f{n}", 0))
    assert len(held) == MAX_PENDING
    held.add(pending("late", 0))  # one too many: the biggest holder loses its oldest
    assert dict(held.evicted) == {"ana": 1}
    assert MAX_PENDING_PER_SENDER > 3


def test_a_copy_of_an_epoch_id_held_first_does_not_hold_back_the_real_message() -> None:
    crowd = Crowd("bob", "carol", "mallory")
    relays, data = crowd.rings["bob"].seal("rust", [("carol", crowd.keys["carol"])], ChatBody("hi"))
    copy = dataclasses.replace(OwnSenderKey("rust"), epoch=wire.decode_sealed(data).epoch)
    squatted = copy.seal(crowd.keys["mallory"], wire.encode_body(ChatBody("x")))
    crowd.deliver("mallory", "rust", squatted, "carol")  # held first, with bob's epoch id
    crowd.deliver("bob", "rust", data, "carol")
    crowd.relay("bob", relays)  # bob's key arrives
    assert crowd.texts("carol") == ["hi"]
    assert crowd.rings["carol"].held == 1  # mallory's still waits for its own key
    assert crowd.rings["carol"].take_forged() == []


# --- warnings --------------------------------------------------------------------------------


def flood(ring: Keyring, key: bytes, now: float, count: int = 10) -> None:
    for _ in range(count):
        ring.relayed("mallory", key, "hs", b"\x01" + os.urandom(32), now)


def test_a_handshake_flood_is_warned_about_again_after_the_interval() -> None:
    ring = Keyring(*keypair("bob"), "bob")
    mallory = keypair("mallory")[1]
    flood(ring, mallory, T0)
    assert len(ring.take_notices(T0)) == 1
    flood(ring, mallory, T0 + HELLO_WARN_EVERY - 1)
    assert ring.take_notices(T0 + HELLO_WARN_EVERY - 1) == []
    flood(ring, mallory, T0 + HELLO_WARN_EVERY)
    assert len(ring.take_notices(T0 + HELLO_WARN_EVERY)) == 1


def test_a_peer_that_reconnects_and_floods_again_is_warned_about_again() -> None:
    ring = Keyring(*keypair("bob"), "bob")
    mallory = keypair("mallory")[1]
    flood(ring, mallory, T0)
    assert len(ring.take_notices(T0)) == 1
    ring.peer_left(mallory, "mallory")
    flood(ring, mallory, T0 + 1)
    assert len(ring.take_notices(T0 + 1)) == 1


def test_a_flood_warning_and_dropped_messages_are_both_reported() -> None:
    crowd = Crowd("bob", "mallory")
    ring = crowd.rings["bob"]
    junk = OwnSenderKey("rust")
    for _ in range(MAX_PENDING_PER_SENDER + 1):
        crowd.deliver("mallory", "rust", junk.seal(crowd.keys["mallory"], b"junk"), "bob")
    flood(ring, crowd.keys["mallory"], T0)
    notices = ring.take_notices(T0)
    assert len(notices) == 2
    assert "handshakes" in notices[0]
    assert notices[1].startswith("1 held room message from mallory")


def test_a_key_that_left_under_every_nick_loses_the_keys_of_every_nick() -> None:
    crowd = Crowd("bob", "ana")
    ring = crowd.rings["bob"]
    ana = crowd.keys["ana"]
    ring._theirs.store(ana, "ana", OwnSenderKey("rust").distribution())
    ring._theirs.store(ana, "ana2", OwnSenderKey("rust").distribution())
    assert ring.their_keys == 2
    ring.peer_left(ana)
    assert ring.their_keys == 0


# --- a new nick of our own -------------------------------------------------------------------


def test_after_a_rename_we_hand_no_key_to_ourselves_and_a_new_one_to_the_others() -> None:
    crowd = Crowd("ana", "bob")
    ring = crowd.rings["ana"]
    ana, bob = crowd.keys["ana"], crowd.keys["bob"]
    relays, _ = ring.seal("rust", [("ana", ana), ("bob", bob)], ChatBody("x"))
    assert {r.nick for r in relays} == {"bob"}
    crowd.relay("ana", relays)
    ring.renamed_self("Anna")
    crowd.rings["bob"].peer_left(ana, "ana")
    relays, _ = ring.seal("rust", [("Anna", ana), ("bob", bob)], ChatBody("y"))
    assert relays  # a new key, over a new session
    assert {r.nick for r in relays} == {"bob"}
