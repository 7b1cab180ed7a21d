"""The responder's side of ``Noise_XX(psk0)_25519_ChaChaPoly_SHA256``, written out on
``cryptography``'s primitives and the standard library's HMAC.

A host answers every connection's handshake. noiseprotocol's generic state machine
(token lists, key pair wrappers, a cipher object per key) costs about as much Python as
the four X25519 operations themselves; this module does the same three messages of the
Noise specification (revision 34, sections 5 and 9) directly, byte for byte:
``tests/test_noise_responder.py`` runs it against noiseprotocol's initiator.

XX: ``-> e`` / ``<- e, ee, s, es`` / ``-> s, se``; with psk0, the first message starts
with the PSK and every ``e`` is also mixed into the key.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

DH_LEN = 32
TAG_LEN = 16


def _initial_hash(name: bytes) -> bytes:
    """InitializeSymmetric: the name itself if it fits the hash, else its hash."""
    return name.ljust(32, b"\x00") if len(name) <= 32 else hashlib.sha256(name).digest()


@functools.lru_cache(maxsize=4)
def static_key(private: bytes) -> tuple[X25519PrivateKey, bytes]:
    """The static key pair, derived once per key (the public half is a scalar
    multiplication a host would otherwise repeat for every connection)."""
    key = X25519PrivateKey.from_private_bytes(private)
    return key, key.public_key().public_bytes_raw()


class HandshakeError(Exception):
    """A message that does not authenticate, or a key that yields no shared secret."""


class XXResponder:
    """One responder handshake: :meth:`read_first`, :meth:`write_second`, :meth:`read_third`.

    Nonces are 4 zero bytes and n, little-endian, as in ChaChaPoly's Noise binding; n
    restarts at 0 on each MixKey (the key of ``es`` is used at n = 0 and 1)."""

    __slots__ = ("_ck", "_e", "_h", "_k", "_n", "_psk", "_re", "_s", "_s_public", "remote_static")

    def __init__(
        self, name: bytes, static_private: bytes, prologue: bytes, psk: bytes | None
    ) -> None:
        self._h = _initial_hash(name)
        self._ck = self._h
        self._k: bytes | None = None
        self._n = 0
        self._psk = psk
        self._s, self._s_public = static_key(static_private)
        self._e: X25519PrivateKey | None = None
        self._re: X25519PublicKey | None = None
        self.remote_static: bytes | None = None
        self._mix_hash(prologue)

    @property
    def replied(self) -> bool:
        """True once :meth:`write_second` ran: the next message is the third."""
        return self._e is not None or self.remote_static is not None

    @property
    def handshake_hash(self) -> bytes:
        """h: what the handshake transcript hashes to (equal on both sides)."""
        return self._h

    # --- the symmetric state ------------------------------------------------------

    def _mix_hash(self, data: bytes) -> None:
        self._h = hashlib.sha256(self._h + data).digest()

    def _hkdf(self, ikm: bytes, outputs: int) -> list[bytes]:
        temp = hmac.digest(self._ck, ikm, "sha256")
        out = [hmac.digest(temp, b"\x01", "sha256")]
        for index in range(2, outputs + 1):
            out.append(hmac.digest(temp, out[-1] + bytes((index,)), "sha256"))
        return out

    def _mix_key(self, ikm: bytes) -> None:
        self._ck, self._k = self._hkdf(ikm, 2)
        self._n = 0

    def _nonce(self) -> bytes:
        nonce = b"\x00\x00\x00\x00" + self._n.to_bytes(8, "little")
        self._n += 1
        return nonce

    def _encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self._k is None:
            data = plaintext
        else:
            data = ChaCha20Poly1305(self._k).encrypt(self._nonce(), plaintext, self._h)
        self._mix_hash(data)
        return data

    def _decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        if self._k is None:
            data = ciphertext
        else:
            try:
                data = ChaCha20Poly1305(self._k).decrypt(self._nonce(), ciphertext, self._h)
            except Exception as error:  # InvalidTag, or a ciphertext shorter than a tag
                raise HandshakeError("a handshake message did not authenticate") from error
        self._mix_hash(ciphertext)
        return data

    @staticmethod
    def _dh(private: X25519PrivateKey, public: X25519PublicKey) -> bytes:
        try:
            return private.exchange(public)
        except ValueError as error:  # a low-order point: an all-zero shared secret
            raise HandshakeError("an invalid public key") from error

    @staticmethod
    def _public(data: bytes) -> X25519PublicKey:
        if len(data) != DH_LEN:
            raise HandshakeError("a handshake message is too short")
        return X25519PublicKey.from_public_bytes(bytes(data))

    # --- the three messages --------------------------------------------------------

    def read_first(self, message: bytes) -> bytes:
        """``-> [psk,] e``: returns the payload."""
        if self._psk is not None:
            ck, temp_h, self._k = self._hkdf(self._psk, 3)
            self._ck, self._n = ck, 0
            self._mix_hash(temp_h)
        re = message[:DH_LEN]
        self._re = self._public(re)
        self._mix_hash(re)
        if self._psk is not None:
            self._mix_key(re)
        return self._decrypt_and_hash(message[DH_LEN:])

    def write_second(self) -> bytes:
        """``<- e, ee, s, es`` with an empty payload."""
        if self._re is None:
            raise HandshakeError("the first message was not read")
        e = self._e = X25519PrivateKey.generate()
        e_public = e.public_key().public_bytes_raw()
        self._mix_hash(e_public)
        if self._psk is not None:
            self._mix_key(e_public)
        self._mix_key(self._dh(e, self._re))
        encrypted_s = self._encrypt_and_hash(self._s_public)
        self._mix_key(self._dh(self._s, self._re))
        return e_public + encrypted_s + self._encrypt_and_hash(b"")

    def read_third(self, message: bytes) -> bytes:
        """``-> s, se``: returns the payload; :attr:`remote_static` is then the peer's key."""
        if self._e is None:
            raise HandshakeError("the second message was not written")
        rs = self._decrypt_and_hash(message[: DH_LEN + TAG_LEN])
        self._mix_key(self._dh(self._e, self._public(rs)))
        payload = self._decrypt_and_hash(message[DH_LEN + TAG_LEN :])
        self.remote_static = rs
        self._e = None
        return payload
