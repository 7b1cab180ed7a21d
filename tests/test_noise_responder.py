"""The host's own Noise XX responder against noiseprotocol's: the same bytes, both ways.

``noise_responder.XXResponder`` replaces noiseprotocol on the host's side only; every
client still runs noiseprotocol's initiator, so the two must agree byte for byte.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from noise.connection import Keypair, NoiseConnection

from severus_cli.core.wire import noise_responder
from severus_cli.core.wire.noise_responder import HandshakeError, XXResponder
from severus_cli.core.wire.session import NOISE_NAME, NOISE_NAME_PSK

PROLOGUE = b"severus/3\x00" + bytes(64)
CASES = [(NOISE_NAME, None), (NOISE_NAME_PSK, bytes(range(32)))]


def _noise(name: bytes, initiator: bool, static: bytes, psk: bytes | None) -> NoiseConnection:
    noise = NoiseConnection.from_name(name)
    if initiator:
        noise.set_as_initiator()
    else:
        noise.set_as_responder()
    noise.set_keypair_from_private_bytes(Keypair.STATIC, static)
    if psk is not None:
        noise.set_psks(psk)
    noise.set_prologue(PROLOGUE)
    return noise


class _FixedEphemeral:
    """Stands in for X25519PrivateKey in the module: generate() returns a known key."""

    def __init__(self, private: bytes) -> None:
        self.private = private

    def generate(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.private)

    @staticmethod
    def from_private_bytes(data: bytes) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(data)


@pytest.mark.filterwarnings("ignore:One of ephemeral keypairs")  # the fixed one, on purpose
@pytest.mark.parametrize(("name", "psk"), CASES)
def test_the_reply_is_byte_identical_to_noiseprotocols(
    name: bytes, psk: bytes | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    initiator_static, responder_static, ephemeral = os.urandom(32), os.urandom(32), os.urandom(32)
    initiator = _noise(name, True, initiator_static, psk)
    initiator.start_handshake()
    first = bytes(initiator.write_message(b""))

    reference = _noise(name, False, responder_static, psk)
    reference.set_keypair_from_private_bytes(Keypair.EPHEMERAL, ephemeral)
    reference.start_handshake()
    assert reference.read_message(first) == b""
    expected = bytes(reference.write_message(b""))

    monkeypatch.setattr(noise_responder, "X25519PrivateKey", _FixedEphemeral(ephemeral))
    ours = XXResponder(name, responder_static, PROLOGUE, psk)
    assert ours.read_first(first) == b""
    assert ours.write_second() == expected

    initiator.read_message(expected)
    third = bytes(initiator.write_message(b""))
    assert ours.read_third(third) == b""
    assert reference.read_message(third) == b""
    public = X25519PrivateKey.from_private_bytes(initiator_static).public_key()
    assert ours.remote_static == public.public_bytes_raw()
    assert ours.handshake_hash == initiator.get_handshake_hash() == reference.get_handshake_hash()


@pytest.mark.parametrize(("name", "psk"), CASES)
def test_a_tampered_message_fails(name: bytes, psk: bytes | None) -> None:
    for index in (3, 40, 70):  # the second message's key, the static key, the tag
        initiator = _noise(name, True, os.urandom(32), psk)
        initiator.start_handshake()
        ours = XXResponder(name, os.urandom(32), PROLOGUE, psk)
        ours.read_first(bytes(initiator.write_message(b"")))
        initiator.read_message(ours.write_second())
        third = bytearray(initiator.write_message(b""))
        third[index % len(third)] ^= 1
        with pytest.raises(HandshakeError):
            ours.read_third(bytes(third))


def test_another_prologue_or_psk_fails() -> None:
    initiator = _noise(NOISE_NAME_PSK, True, os.urandom(32), bytes(32))
    initiator.start_handshake()
    ours = XXResponder(NOISE_NAME_PSK, os.urandom(32), PROLOGUE, bytes(range(32)))
    with pytest.raises(HandshakeError):  # the PSK keys the first message's tag
        ours.read_first(bytes(initiator.write_message(b"")))
    initiator = _noise(NOISE_NAME, True, os.urandom(32), None)
    initiator.start_handshake()
    ours = XXResponder(NOISE_NAME, os.urandom(32), PROLOGUE + b"x", None)
    ours.read_first(bytes(initiator.write_message(b"")))
    with pytest.raises(Exception):  # noqa: B017 - noiseprotocol's own error type
        initiator.read_message(ours.write_second())  # the prologue is in every hash


def test_short_and_low_order_keys_fail() -> None:
    ours = XXResponder(NOISE_NAME, os.urandom(32), PROLOGUE, None)
    with pytest.raises(HandshakeError):
        ours.read_first(bytes(31))
    ours = XXResponder(NOISE_NAME, os.urandom(32), PROLOGUE, None)
    ours.read_first(bytes(32))  # the all-zero point: no shared secret with it
    with pytest.raises(HandshakeError):
        ours.write_second()
    with pytest.raises(HandshakeError):  # out of order
        XXResponder(NOISE_NAME, os.urandom(32), PROLOGUE, None).read_third(bytes(64))
