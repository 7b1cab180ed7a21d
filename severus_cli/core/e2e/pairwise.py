"""Pairwise end-to-end sessions: Noise_XX between two participants, relayed by the host.

Sans-IO: :meth:`Pairwise.send` and :meth:`Pairwise.receive` return the blobs to relay.
A session starts on first use; payloads wait until it is open. When both sides start
at once, the side with the smaller identity key stays initiator and the other answers.
Each side checks that the key which completed the handshake is the key the roster gives
for that nick, so a host that swaps keys or senders is caught. Sessions are per (key, nick)
``tag``: one identity may be connected twice under two nicks (a chat and a ``send`` from
the same machine), and each is its own participant.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from noise.connection import Keypair, NoiseConnection

from severus_cli.errors import RemoteProtocolError

NOISE_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
HANDSHAKE = "hs"
MAX_QUEUED = 256  # payloads waiting for one session to open
MAX_PAYLOAD = 65000


class Stage(enum.Enum):
    INITIATED = 1  # we sent message 1
    RESPONDED = 2  # we answered message 1 with message 2
    OPEN = 3


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A blob to relay to the participant with identity key ``peer`` (and nick ``tag``)."""

    peer: bytes
    kind: str  # "hs" for handshake messages; otherwise the payload's kind ("dm", "key")
    data: bytes
    tag: str = ""


@dataclass(eq=False)
class _Channel:
    peer: bytes
    tag: str
    stage: Stage
    noise: NoiseConnection
    state: Any  # the handshake state, kept to read the peer's static key
    queue: list[tuple[str, bytes]] = field(default_factory=list)


def _prologue(a: bytes, b: bytes) -> bytes:
    low, high = sorted((a, b))
    return b"severus-e2e/1\x00" + low + high


class Pairwise:
    """Every pairwise session of one participant."""

    def __init__(self, static_private: bytes, own_key: bytes, own_tag: str = "") -> None:
        self._private = static_private
        self._own = own_key
        self.own_tag = own_tag
        self._channels: dict[tuple[bytes, str], _Channel] = {}

    def is_open(self, peer: bytes, tag: str = "") -> bool:
        channel = self._channels.get((peer, tag))
        return channel is not None and channel.stage is Stage.OPEN

    @property
    def queued(self) -> int:
        """Payloads waiting for their session to open."""
        return sum(len(channel.queue) for channel in self._channels.values())

    def forget(self, peer: bytes, tag: str = "") -> None:
        """The peer left: its session ends (a new one starts if it comes back)."""
        self._channels.pop((peer, tag), None)

    def renamed(self, own_tag: str) -> None:
        """We changed our nick: every peer ended its session with our old one, so ours
        end too, and the next payload for anyone opens a new session."""
        self.own_tag = own_tag
        self._channels.clear()

    def _new(self, peer: bytes, tag: str, initiator: bool) -> _Channel:
        noise = NoiseConnection.from_name(NOISE_NAME)
        if initiator:
            noise.set_as_initiator()
        else:
            noise.set_as_responder()
        noise.set_keypair_from_private_bytes(Keypair.STATIC, self._private)
        noise.set_prologue(_prologue(self._own, peer))
        noise.start_handshake()
        stage = Stage.INITIATED if initiator else Stage.RESPONDED
        return _Channel(peer, tag, stage, noise, noise.noise_protocol.handshake_state)

    def send(self, peer: bytes, kind: str, payload: bytes, tag: str = "") -> list[Outgoing]:
        """Encrypt ``payload`` for ``peer``, starting a session if there is none."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError("payload too large")
        slot = (peer, tag)
        channel = self._channels.get(slot)
        if channel is not None and channel.stage is Stage.OPEN:
            return [Outgoing(peer, kind, channel.noise.encrypt(payload), tag)]
        out: list[Outgoing] = []
        if channel is None:
            channel = self._channels[slot] = self._new(peer, tag, initiator=True)
            hello = b"\x01" + channel.noise.write_message(b"")
            out.append(Outgoing(peer, HANDSHAKE, hello, tag))
        if len(channel.queue) >= MAX_QUEUED:
            raise RemoteProtocolError("the peer does not answer our handshake", "e2e_stalled")
        channel.queue.append((kind, payload))
        return out

    def receive(
        self, peer: bytes, kind: str, data: bytes, tag: str = ""
    ) -> tuple[list[bytes], list[Outgoing]]:
        """Handle a relayed blob from ``peer``: (decrypted payloads, blobs to send back).

        Raises RemoteProtocolError (codes ``e2e_*``) for anything that does not decrypt
        or authenticate; the session with that peer is then dropped.
        """
        slot = (peer, tag)
        try:
            if kind == HANDSHAKE:
                return [], self._handshake(peer, tag, data)
            channel = self._channels.get(slot)
            if channel is None or channel.stage is not Stage.OPEN:
                raise RemoteProtocolError("a private message without a session", "e2e_nosession")
            try:
                return [channel.noise.decrypt(data)], []
            except Exception:
                raise RemoteProtocolError(
                    "a private message failed to decrypt (forged, replayed or reordered)",
                    "e2e_forged",
                ) from None
        except RemoteProtocolError:
            self._channels.pop(slot, None)
            raise

    def _handshake(self, peer: bytes, tag: str, data: bytes) -> list[Outgoing]:
        if not data:
            raise RemoteProtocolError("an empty handshake message", "e2e_bad")
        step, body = data[0], data[1:]
        slot = (peer, tag)
        channel = self._channels.get(slot)
        if step == 1:
            ours_wins = (self._own, self.own_tag) < (peer, tag)
            if channel is not None and channel.stage is Stage.INITIATED and ours_wins:
                return []  # both started: ours wins, they will answer it
            queue = channel.queue if channel is not None else []
            channel = self._channels[slot] = self._new(peer, tag, initiator=False)
            channel.queue = queue
            self._read(channel, body)
            answer = b"\x02" + self._write(channel)
            return [Outgoing(peer, HANDSHAKE, answer, tag)]
        if step == 2 and channel is not None and channel.stage is Stage.INITIATED:
            self._read(channel, body)
            self._check_peer(channel)
            reply = Outgoing(peer, HANDSHAKE, b"\x03" + self._write(channel), tag)
            return [reply, *self._open(channel)]
        if step == 3 and channel is not None and channel.stage is Stage.RESPONDED:
            self._read(channel, body)
            self._check_peer(channel)
            return self._open(channel)
        raise RemoteProtocolError("an unexpected handshake message", "e2e_bad")

    def _write(self, channel: _Channel) -> bytes:
        """Our next handshake message: it does Diffie-Hellman with the peer's keys, and one
        of low order (all-zero secret) must fail like any other forged handshake."""
        try:
            message: bytes = channel.noise.write_message(b"")
        except Exception:
            raise RemoteProtocolError(
                "a private handshake failed (an invalid key)", "e2e_forged"
            ) from None
        return message

    def _read(self, channel: _Channel, body: bytes) -> None:
        try:
            payload = channel.noise.read_message(body)
        except Exception:
            raise RemoteProtocolError(
                "a private handshake failed (tampered, or the host swapped keys)", "e2e_forged"
            ) from None
        if payload:
            raise RemoteProtocolError("handshake payloads must be empty", "e2e_bad")

    def _check_peer(self, channel: _Channel) -> None:
        if channel.state.rs.public_bytes != channel.peer:
            raise RemoteProtocolError(
                "the key that answered is not the key the host gave for that nick", "e2e_forged"
            )

    def _open(self, channel: _Channel) -> list[Outgoing]:
        channel.stage = Stage.OPEN
        channel.state = None
        queued, channel.queue = channel.queue, []
        return [Outgoing(channel.peer, k, channel.noise.encrypt(p), channel.tag) for k, p in queued]
