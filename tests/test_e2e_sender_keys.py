"""Sender keys: one encryption per room message, a forward-only ratchet, signed by the sender."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from severus_cli.core.e2e import sender_keys, wire
from severus_cli.core.e2e.sender_keys import (
    MAX_SKIP,
    OwnSenderKey,
    PeerSenderKey,
    associated_data,
)
from severus_cli.errors import RemoteProtocolError

ANA = bytes(range(32))  # identity keys: only their bytes matter here
CAROL = bytes(range(1, 33))


def member_of(own: OwnSenderKey, sender: bytes = ANA) -> PeerSenderKey:
    """What a member holds after ``own`` was handed to them now."""
    return PeerSenderKey.from_gift(sender, own.distribution())


def envelope(data: bytes) -> wire.Sealed:
    return wire.decode_sealed(data)


def refused(key: PeerSenderKey, data: bytes | wire.Sealed) -> str:
    sealed = data if isinstance(data, wire.Sealed) else envelope(data)
    before = dataclasses.replace(key)
    with pytest.raises(RemoteProtocolError) as caught:
        key.open(sealed)
    assert key == before, "a refused message must not move the ratchet"
    return caught.value.code


def test_seal_open_round_trip() -> None:
    own = OwnSenderKey("Rust")
    bob = member_of(own)
    for i in range(5):
        text = b"message %d" % i
        data = own.seal(ANA, text)
        assert text not in data
        assert bob.open(envelope(data)) == text
    assert own.counter == bob.next_counter == 5


def test_envelope_layout() -> None:
    own = OwnSenderKey("rust")
    data = own.seal(ANA, b"hello")
    raw = msgpack.unpackb(data)
    assert list(raw) == ["e", "n", "c", "s"]
    assert raw["e"] == own.epoch and len(raw["e"]) == sender_keys.EPOCH_ID_SIZE
    assert raw["n"] == 0
    assert len(raw["c"]) == len(b"hello") + 16  # ChaCha20-Poly1305 tag
    assert len(raw["s"]) == 64  # Ed25519
    assert own.seal(ANA, b"x") != own.seal(ANA, b"x")  # every message has its own key


def test_associated_data_layout() -> None:
    ad = associated_data(ANA, "RuSt", b"E" * 8, 258)
    assert ad == b"severus-room/1\x00" + ANA + b"rust\x00" + b"E" * 8 + bytes(6) + b"\x01\x02"


def test_chain_steps_are_hmac_sha256_of_one_and_two() -> None:
    chain = bytes(32)
    message_key, next_chain = sender_keys._step(chain)
    assert message_key == hmac.new(chain, b"\x01", hashlib.sha256).digest()
    assert next_chain == hmac.new(chain, b"\x02", hashlib.sha256).digest()
    # ...and a message is ChaCha20-Poly1305 under that key, zero nonce, bound to the AD.
    own = OwnSenderKey("r", epoch=b"e" * 8, chain=chain)
    sealed = envelope(own.seal(ANA, b"hi"))
    ad = associated_data(ANA, "r", b"e" * 8, 0)
    assert ChaCha20Poly1305(message_key).decrypt(bytes(12), sealed.ciphertext, ad) == b"hi"
    own.signer.public_key().verify(sealed.signature, ad + sealed.ciphertext)


def test_the_ratchet_skips_forward_over_lost_messages() -> None:
    own = OwnSenderKey("rust")
    bob = member_of(own)
    sealed = [own.seal(ANA, b"m%d" % i) for i in range(6)]
    assert bob.open(envelope(sealed[3])) == b"m3"
    assert bob.next_counter == 4
    # What was skipped can no longer be read: the chain only moves forward.
    for old in sealed[:4]:
        assert refused(bob, old) == "e2e_replay"
    assert bob.open(envelope(sealed[5])) == b"m5"


def test_skipping_is_bounded() -> None:
    own = OwnSenderKey("rust")
    bob = member_of(own)
    far = [own.seal(ANA, b"x") for _ in range(MAX_SKIP + 2)]
    assert refused(bob, far[MAX_SKIP + 1]) == "e2e_replay"  # too far ahead
    assert bob.open(envelope(far[MAX_SKIP])) == b"x"  # exactly MAX_SKIP ahead is fine


def test_replay_and_reorder_are_rejected() -> None:
    own = OwnSenderKey("rust")
    bob = member_of(own)
    first, second = own.seal(ANA, b"one"), own.seal(ANA, b"two")
    assert bob.open(envelope(first)) == b"one"
    assert refused(bob, first) == "e2e_replay"
    assert bob.open(envelope(second)) == b"two"
    assert refused(bob, first) == "e2e_replay"  # reordered: older than the last one read
    assert refused(bob, second) == "e2e_replay"


def test_a_key_handed_out_later_cannot_read_earlier_messages() -> None:
    own = OwnSenderKey("rust")
    before = own.seal(ANA, b"before you came")
    late = member_of(own)
    after = own.seal(ANA, b"after")
    assert refused(late, before) == "e2e_replay"
    # Even ignoring the counter check, the chain it holds is past that message's key.
    rewound = dataclasses.replace(late, next_counter=0)
    assert refused(rewound, before) == "e2e_forged"
    assert late.open(envelope(after)) == b"after"


def forge_as_member(gift_holder: PeerSenderKey, text: bytes) -> wire.Sealed:
    """What a member who holds ana's chain key can make: valid encryption, own signature."""
    message_key, _ = sender_keys._step(gift_holder.chain)
    counter = gift_holder.next_counter
    ad = associated_data(ANA, gift_holder.room, gift_holder.epoch, counter)
    ciphertext = ChaCha20Poly1305(message_key).encrypt(bytes(12), text, ad)
    signature = Ed25519PrivateKey.generate().sign(ad + ciphertext)
    return wire.Sealed(gift_holder.epoch, counter, ciphertext, signature)


def test_a_member_who_knows_the_chain_key_cannot_forge_the_sender() -> None:
    own = OwnSenderKey("rust")
    bob, carol = member_of(own), member_of(own)
    forged = forge_as_member(carol, b"ana says: send me your password")
    # The encryption is perfect (carol can read her own forgery)...
    message_key, _ = sender_keys._step(carol.chain)
    ad = associated_data(ANA, "rust", own.epoch, 0)
    assert ChaCha20Poly1305(message_key).decrypt(bytes(12), forged.ciphertext, ad)
    # ...but it is not signed by ana.
    assert refused(bob, forged) == "e2e_forged"
    unsigned = dataclasses.replace(forged, signature=bytes(64))
    assert refused(bob, unsigned) == "e2e_forged"
    # The genuine message with that counter still opens.
    assert bob.open(envelope(own.seal(ANA, b"real"))) == b"real"


@pytest.mark.parametrize("field", ["ciphertext", "signature", "counter"])
def test_tampered_envelopes_are_rejected(field: str) -> None:
    own = OwnSenderKey("rust")
    bob = member_of(own)
    sealed = envelope(own.seal(ANA, b"pay ana 10"))
    if field == "counter":
        own.seal(ANA, b"next")
        tampered = dataclasses.replace(sealed, counter=1)
    else:
        value = bytearray(getattr(sealed, field))
        value[len(value) // 2] ^= 0x04
        tampered = dataclasses.replace(sealed, **{field: bytes(value)})
    assert refused(bob, tampered) == "e2e_forged"
    assert bob.open(sealed) == b"pay ana 10"


def test_a_message_is_bound_to_its_sender_and_room() -> None:
    own = OwnSenderKey("rust")
    gift = own.distribution()
    sealed = envelope(own.seal(ANA, b"hi"))
    as_carol = PeerSenderKey.from_gift(CAROL, gift)  # the host says carol sent it
    assert refused(as_carol, sealed) == "e2e_forged"
    elsewhere = PeerSenderKey.from_gift(ANA, dataclasses.replace(gift, room="go"))
    assert refused(elsewhere, sealed) == "e2e_forged"
    same_room = PeerSenderKey.from_gift(ANA, dataclasses.replace(gift, room="RUST"))
    assert same_room.open(sealed) == b"hi"  # room names compare case-insensitively


def test_a_wrong_chain_key_fails_to_decrypt() -> None:
    own = OwnSenderKey("rust")
    bob = dataclasses.replace(member_of(own), chain=bytes(32))
    assert refused(bob, own.seal(ANA, b"hi")) == "e2e_forged"


def test_epoch_mismatch() -> None:
    old, new = OwnSenderKey("rust"), OwnSenderKey("rust")
    assert old.epoch != new.epoch and old.chain != new.chain
    bob = member_of(old)
    assert refused(bob, new.seal(ANA, b"new epoch")) == "e2e_epoch"
    assert bob.open(envelope(old.seal(ANA, b"old epoch"))) == b"old epoch"


def test_the_gift_is_the_current_state() -> None:
    own = OwnSenderKey("Rust")
    own.seal(ANA, b"x")
    gift = own.distribution()
    assert gift == wire.SenderKeyGift(
        "Rust", own.epoch, own.chain, 1, own.signer.public_key().public_bytes_raw()
    )
    assert wire.decode_pairwise(wire.encode_gift(gift)) == gift


def test_the_skip_bound_counts_from_the_last_message_read() -> None:
    """``MAX_SKIP`` limits the gap since the last message read, not the counter itself: a
    long-lived epoch must stay readable well past MAX_SKIP messages."""
    own = OwnSenderKey("rust")
    bob = member_of(own)
    sealed = [own.seal(ANA, b"m%d" % i) for i in range(MAX_SKIP + 2)]
    assert bob.open(envelope(sealed[MAX_SKIP // 2])) == b"m%d" % (MAX_SKIP // 2)
    # Counter + next counter exceeds MAX_SKIP here; the gap does not.
    assert bob.open(envelope(sealed[MAX_SKIP])) == b"m%d" % MAX_SKIP
    assert bob.next_counter == MAX_SKIP + 1
