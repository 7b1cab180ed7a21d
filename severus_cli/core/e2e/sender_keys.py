"""Sender keys: one encryption of a room message, readable by every member who was given
the key, and by nobody else; signed so that members cannot forge one another.

Each (sender, room) has an *epoch*: a random id, a 32-byte chain key and an Ed25519
signing key. Message ``n`` is encrypted with ``HMAC(chain_n, 1)`` and the chain moves on
to ``HMAC(chain_n, 2)``, so a key handed out later cannot read earlier messages. A new
epoch starts whenever the room's membership changes, so someone who left cannot read
what follows and a newcomer cannot read what came before. Pure code.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from severus_cli.core.e2e import wire
from severus_cli.errors import RemoteProtocolError

EPOCH_ID_SIZE = 8
MAX_SKIP = 2000  # messages a receiver will ratchet past in one step (the host dropped some)
_NONCE = bytes(12)


def _step(chain: bytes) -> tuple[bytes, bytes]:
    """(message key, next chain key) from a chain key."""
    return hmac.digest(chain, b"\x01", "sha256"), hmac.digest(chain, b"\x02", "sha256")


def associated_data(sender: bytes, room: str, epoch: bytes, counter: int) -> bytes:
    """What every room ciphertext is bound to: who, where, which epoch, which message."""
    return (
        b"severus-room/1\x00"
        + sender
        + room.casefold().encode()
        + b"\x00"
        + epoch
        + counter.to_bytes(8, "big")
    )


@dataclass
class OwnSenderKey:
    """Our key for one room: seals what we say there."""

    room: str
    epoch: bytes = field(default_factory=lambda: os.urandom(EPOCH_ID_SIZE))
    chain: bytes = field(default_factory=lambda: os.urandom(32))
    signer: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    counter: int = 0
    shared_with: set[tuple[bytes, str]] = field(default_factory=set)  # (key, nick) given it

    def distribution(self) -> wire.SenderKeyGift:
        """The current state, to hand to a member over a pairwise session."""
        verify_key = self.signer.public_key().public_bytes_raw()
        return wire.SenderKeyGift(self.room, self.epoch, self.chain, self.counter, verify_key)

    def seal(self, sender: bytes, plaintext: bytes) -> bytes:
        """Encrypt and sign one message; returns the envelope the host relays."""
        message_key, self.chain = _step(self.chain)
        counter = self.counter
        self.counter += 1
        ad = associated_data(sender, self.room, self.epoch, counter)
        ciphertext = ChaCha20Poly1305(message_key).encrypt(_NONCE, plaintext, ad)
        signature = self.signer.sign(ad + ciphertext)
        return wire.encode_sealed(wire.Sealed(self.epoch, counter, ciphertext, signature))


@dataclass
class PeerSenderKey:
    """Someone else's key for one room and epoch: opens what they say there."""

    sender: bytes  # their identity key
    room: str
    epoch: bytes
    chain: bytes
    next_counter: int
    verify_key: bytes

    @classmethod
    def from_gift(cls, sender: bytes, gift: wire.SenderKeyGift) -> PeerSenderKey:
        return cls(sender, gift.room, gift.epoch, gift.chain, gift.counter, gift.verify_key)

    def signed(self, envelope: wire.Sealed) -> bool:
        """Whether this key's signer really signed ``envelope`` (as this sender, in this
        room): the proof that a message was sealed by this sender and relabelled, which
        an epoch id alone is not, since any member can hand out a copy of another's."""
        ad = associated_data(self.sender, self.room, self.epoch, envelope.counter)
        try:
            Ed25519PublicKey.from_public_bytes(self.verify_key).verify(
                envelope.signature, ad + envelope.ciphertext
            )
        except (InvalidSignature, ValueError):
            return False
        return envelope.epoch == self.epoch

    def open(self, envelope: wire.Sealed) -> bytes:
        """Check the signature, then decrypt; refuses replays, reordering and tampering."""
        if envelope.epoch != self.epoch:
            raise RemoteProtocolError("a room message for another key epoch", "e2e_epoch")
        counter = envelope.counter
        if counter < self.next_counter:
            raise RemoteProtocolError("a replayed or reordered room message", "e2e_replay")
        if counter - self.next_counter > MAX_SKIP:
            raise RemoteProtocolError("a room message too far ahead", "e2e_replay")
        ad = associated_data(self.sender, self.room, self.epoch, counter)
        try:
            Ed25519PublicKey.from_public_bytes(self.verify_key).verify(
                envelope.signature, ad + envelope.ciphertext
            )
        except (InvalidSignature, ValueError):
            raise RemoteProtocolError("a room message with a bad signature", "e2e_forged") from None
        chain = self.chain
        for _ in range(counter - self.next_counter):
            _, chain = _step(chain)
        message_key, next_chain = _step(chain)
        try:
            plaintext = ChaCha20Poly1305(message_key).decrypt(_NONCE, envelope.ciphertext, ad)
        except Exception:
            raise RemoteProtocolError("a room message failed to decrypt", "e2e_forged") from None
        self.chain = next_chain
        self.next_counter = counter + 1
        return plaintext
