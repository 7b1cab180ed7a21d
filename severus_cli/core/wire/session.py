"""The hop session: a Noise_XX_25519_ChaChaPoly_SHA256 handshake, then packets, all in
length-prefixed frames inside the transport's TLS 1.3.

Sans-IO in the manner of h11: feed received bytes with :meth:`HopSession.receive_data`,
collect events, queue packets with :meth:`send`, and write :meth:`data_to_send` to
the transport. The prologue binds the protocol version, the SHA-256 of the TLS
certificate both sides saw, and the TLS connection itself (its channel binding), so a
TLS interceptor breaks the handshake, even one that holds the host's TLS key.

The handshake authenticates both long-term keys (and the join secret) to the TLS
channel it ran in; after it, that channel alone carries the packets. Nothing is
encrypted a second time per hop: what the host forwards is already end-to-end
ciphertext, so one encoded frame goes to every recipient as the same bytes (see
PROTOCOL.md, section 3).

The initiator pauses after the responder's message: :class:`PeerIdentity` tells the
caller who the host is, and nothing about the initiator is revealed until the caller
trusts that identity and calls :meth:`proceed`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noise.connection import NoiseConnection

from severus_cli.core.wire.framing import MAX_FRAME, FrameDecoder, encode_frame
from severus_cli.core.wire.noise_responder import XXResponder
from severus_cli.errors import LocalProtocolError, RemoteProtocolError

PROTOCOL_VERSION = 3
NOISE_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
NOISE_NAME_PSK = b"Noise_XXpsk0_25519_ChaChaPoly_SHA256"  # hosts with a join secret
PSK_DOMAIN = b"severus/3 join secret\x00"  # the scrypt salt's prefix
# scrypt's cost for a join secret: 32 MiB and about 0.1 s a guess. The client pays it
# once per connection, the host once at start; someone who captured a first message
# pays it for every secret they try.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MAX_PLAINTEXT = MAX_FRAME  # a packet fills at most one frame
KEY_SIZE = 32


def make_prologue(cert_hash: bytes, binding: bytes = b"") -> bytes:
    """``b"severus/<version>\\0"``, the 32-byte certificate hash, then SHA-256 of the
    TLS connection's channel binding (PROTOCOL.md, section 3): 74 bytes.

    ``binding`` is empty only where no TLS runs (unit tests of the session alone).
    """
    return b"severus/%d\x00" % PROTOCOL_VERSION + cert_hash + hashlib.sha256(binding).digest()


@functools.lru_cache(maxsize=8)
def join_psk(secret: bytes, cert_hash: bytes) -> bytes:
    """The 32-byte Noise PSK for a join secret: scrypt of the secret, salted with a
    domain label and the host's certificate hash.

    The salt is host-specific and known to the client before its first message, so a
    captured first message has to be attacked for that host alone, at scrypt's cost
    per guess; the cache spares a reconnecting client the cost.
    """
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    kdf = Scrypt(salt=PSK_DOMAIN + cert_hash, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(secret)


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Initiator only: the responder proved this static key; call proceed() to go on."""

    static_key: bytes


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The session is established with the peer holding ``static_key``."""

    static_key: bytes


@dataclass(frozen=True, slots=True)
class Payload:
    """One packet."""

    data: bytes


SessionEvent = PeerIdentity | HandshakeComplete | Payload


class _State(enum.Enum):
    HANDSHAKE = 1
    AWAIT_PROCEED = 2
    OPEN = 3
    FAILED = 4


def _remote_static(handshake_state: Any) -> bytes:
    """Read the peer's static key: noiseprotocol has no public API for it."""
    key: bytes = handshake_state.rs.public_bytes
    return key


@functools.lru_cache(maxsize=4)
def _static_keypair(keypair_class: Any, static_private: bytes) -> Any:
    """noiseprotocol's key pair for our static key, made once per key: deriving the
    public half is a scalar multiplication, which a host would otherwise repeat for
    every connection."""
    return keypair_class.from_private_bytes(static_private)


class HopSession:
    """One end of a hop session: the Noise_XX handshake, then packets in frames."""

    __slots__ = (
        "_decoder",
        "_handshake_state",
        "_noise",
        "_opened",
        "_outbox",
        "_responder",
        "_state",
        "peer_key",
        "role",
    )

    def __init__(
        self,
        role: Role,
        static_private: bytes,
        cert_hash: bytes,
        max_frame: int = MAX_FRAME,
        psk: bytes | None = None,
        binding: bytes = b"",
    ) -> None:
        """``psk`` (from :func:`join_psk`) switches to ``Noise_XXpsk0``: without the same
        secret the very first message fails, so a stranger never gets the host's reply.
        ``binding`` is the TLS connection's channel binding (:func:`make_prologue`)."""
        if len(static_private) != KEY_SIZE or len(cert_hash) != 32:
            raise ValueError("static key and certificate hash must be 32 bytes")
        if psk is not None and len(psk) != 32:
            raise ValueError("the PSK must be 32 bytes")
        self.role = role
        self.peer_key: bytes | None = None
        self._decoder = FrameDecoder(max_frame)
        self._outbox = bytearray()
        self._state = _State.HANDSHAKE
        self._opened = False
        name = NOISE_NAME if psk is None else NOISE_NAME_PSK
        prologue = make_prologue(cert_hash, binding)
        self._noise: Any = None  # the initiator's NoiseConnection; None once open
        self._handshake_state: Any = None
        # A host answers every connection: its side is written out on cryptography's
        # primitives (noise_responder), the same bytes for a fraction of the Python.
        self._responder = (
            XXResponder(name, static_private, prologue, psk) if role is Role.RESPONDER else None
        )
        if role is Role.INITIATOR:
            noise = NoiseConnection.from_name(name)
            if psk is not None:
                noise.set_psks(psk)
            noise.set_as_initiator()
            protocol = noise.noise_protocol  # set_keypair_from_private_bytes, minus the work:
            protocol.keypairs["s"] = _static_keypair(protocol.dh_fn.klass, static_private)
            noise.set_prologue(prologue)
            noise.start_handshake()
            self._noise = noise
            self._handshake_state = noise.noise_protocol.handshake_state
            self._outbox += encode_frame(noise.write_message(b""))

    @property
    def established(self) -> bool:
        return self._state is _State.OPEN

    @property
    def can_send(self) -> bool:
        """True once the handshake completed, even after the peer sent junk: our sending
        cipher is independent of theirs, so a last error packet can still go out."""
        return self._opened

    def data_to_send(self) -> bytes:
        """Bytes queued for the transport; the queue is emptied."""
        if not self._outbox:
            return b""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def receive_data(self, data: bytes) -> list[SessionEvent]:
        """Feed bytes from the transport; return what they completed."""
        if self._state is _State.FAILED:
            raise RemoteProtocolError("session already failed")
        try:
            frames = self._decoder.feed(data)
        except RemoteProtocolError:
            self._state = _State.FAILED
            raise
        events: list[SessionEvent] = []
        for frame in frames:
            events.extend(self._receive_frame(frame))
        return events

    def receive_packets(self, data: bytes) -> list[bytes]:
        """Once established: feed bytes, return the packets they completed.

        The same as :meth:`receive_data` without an event per packet, for the traffic
        that follows the handshake (a host calls it for every chunk it reads).
        """
        if self._state is not _State.OPEN:
            raise LocalProtocolError("receive_packets() needs an established session")
        try:
            return self._decoder.feed(data)
        except RemoteProtocolError:
            self._state = _State.FAILED
            raise

    def _receive_frame(self, frame: bytes) -> list[SessionEvent]:
        if self._state is _State.OPEN:
            return [Payload(frame)]
        if self._state is not _State.HANDSHAKE:
            self._state = _State.FAILED
            raise RemoteProtocolError("unexpected message during the handshake", "bad_handshake")
        if self._responder is not None:
            return self._respond(self._responder, frame)
        self._read_handshake(self._noise.read_message, frame)
        self.peer_key = _remote_static(self._handshake_state)
        self._state = _State.AWAIT_PROCEED
        return [PeerIdentity(self.peer_key)]

    def _read_handshake(self, read: Callable[[bytes], bytes], frame: bytes) -> None:
        """One handshake message read by ``read``: it must pass, and carry no payload."""
        try:
            payload = read(frame)
        except Exception as error:
            self._state = _State.FAILED
            raise RemoteProtocolError(
                "the Noise handshake failed (wrong protocol, tampering, or a TLS interceptor)",
                "bad_handshake",
            ) from error
        if payload:
            self._state = _State.FAILED
            raise RemoteProtocolError("handshake payloads must be empty", "bad_handshake")

    def _respond(self, responder: XXResponder, frame: bytes) -> list[SessionEvent]:
        """The responder's handshake: the first message gets our reply, the third
        completes the session."""
        first = not responder.replied
        self._read_handshake(responder.read_first if first else responder.read_third, frame)
        if not first:
            self.peer_key = responder.remote_static
            self._finish()
            return [HandshakeComplete(responder.remote_static or b"")]
        try:  # our reply computes DH with the peer's ephemeral key, which may be bogus
            reply = responder.write_second()
        except Exception as error:
            self._state = _State.FAILED
            raise RemoteProtocolError(
                "the Noise handshake failed (an invalid ephemeral key)", "bad_handshake"
            ) from error
        self._outbox += encode_frame(reply)
        return []

    def proceed(self) -> None:
        """Initiator: the peer's identity is trusted; send the final handshake message."""
        if self._state is not _State.AWAIT_PROCEED:
            raise LocalProtocolError("proceed() is only valid after PeerIdentity")
        self._outbox += encode_frame(self._noise.write_message(b""))
        self._finish()

    def _finish(self) -> None:
        self._state = _State.OPEN
        self._opened = True
        self._handshake_state = None
        self._responder = None
        self._noise = None  # its transport ciphers are never used: TLS carries packets

    def send(self, payload: bytes) -> None:
        """Queue one packet."""
        self._outbox += self.seal(payload)

    def seal(self, payload: bytes) -> bytes:
        """Frame one packet and return the frame without queueing it.

        The frame depends on nothing but the packet (:func:`encode_frame`), so a host
        frames a packet once and writes the same bytes to every recipient.
        """
        if not self._opened:
            raise LocalProtocolError("the session is not established")
        return encode_frame(payload)
