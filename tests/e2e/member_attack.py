"""A hostile member: a raw participant that also speaks the end-to-end layer, to attack a
real client through an honest host the way another member could (key hand-outs without
end, handshakes started in a loop).

It keeps under the host's own limits (a local copy of its control and byte buckets), so
what reaches the victim is what a well-paced attacker delivers, and it is never dropped
for flooding the host itself. Everything is on 127.0.0.1; every loop has a deadline.
"""

from __future__ import annotations

import itertools
import os
import ssl
import time
from collections import Counter
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.keyring import Keyring
from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.wire import packets as p
from tests.e2e.attack import RawPeer

CONTROL_BURST, CONTROL_RATE = 4000.0, 800.0  # relays of kinds hs and key
BYTE_BURST, BYTE_RATE = 160 * 1024.0, 48 * 1024.0  # bytes of data in relays


class Member:
    """``nick`` on the host at ``port``, with a keyring of its own."""

    def __init__(self, port: int, nick: str) -> None:
        private = os.urandom(32)
        public = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()
        self.nick = nick
        self.raw = RawPeer(port, static=private)
        self.ring = Keyring(private, public, nick)
        self.keys: dict[str, bytes] = {}  # casefolded nick -> identity key, from the roster
        self.answers: Counter[tuple[str, str]] = Counter()  # (from, kind) of relayed blobs
        self.refused: list[p.Error] = []
        self.delivered = 0  # relays the host accepted
        self._ids = itertools.count(1)
        now = time.monotonic()
        # Under the host's default allowances for control relays and for bytes (PROTOCOL.md
        # 4.3), with a margin: nothing we send is refused.
        self._control = TokenBucket(CONTROL_BURST, CONTROL_RATE, now)
        self._bytes = TokenBucket(BYTE_BURST, BYTE_RATE, now)
        self.raw.send(p.encode(p.Hello(nick, "attack", ())))
        deadline = time.monotonic() + 10
        while not self.keys:
            assert time.monotonic() < deadline, "no welcome"
            self.pump(0.5)

    def pump(self, wait: float = 0.0) -> None:
        """Read what the host sent (waiting up to ``wait`` s for the first bytes)."""
        self.raw.sock.settimeout(wait if wait > 0 else 0.0001)
        try:
            data = self.raw.sock.recv(1 << 20)
        except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
            return
        for packet in self.raw.decode(data):
            self._handle(packet)

    def _handle(self, packet: p.Packet) -> None:
        if isinstance(packet, p.Welcome | p.Roster):
            self.keys.update((nick.casefold(), key) for nick, key in packet.users)
        elif isinstance(packet, p.Joined) and packet.room == p.LOBBY:
            self.keys[packet.nick.casefold()] = packet.key
        elif isinstance(packet, p.Ok):
            self.delivered += 1
        elif isinstance(packet, p.Error):
            self.refused.append(packet)
        elif isinstance(packet, p.Relayed):
            self.answers[packet.sender, packet.kind] += 1
            key = self.keys[packet.sender.casefold()]
            try:
                _, replies = self.ring.relayed(packet.sender, key, packet.kind, packet.data, 0.0)
            except Exception:
                return  # answers to forged handshakes: counted, nothing to do
            for reply in replies:
                self.relay(reply.nick, reply.kind, reply.data)

    def relay(self, to: str, kind: str, data: bytes) -> None:
        """Send one blob to ``to``, waiting for the host's allowance first."""
        deadline = time.monotonic() + 30
        while True:
            now = time.monotonic()
            if self._bytes.tokens >= len(data) and self._control.take(now):
                self._bytes.take(now, len(data))
                break
            self._bytes.take(now, 0)  # refill
            assert now < deadline, "the allowance never came back"
            self.pump(0.01)
        self.raw.send(p.encode(p.Relay(next(self._ids), to, kind, data)))

    def open_session(self, nick: str) -> None:
        """A pairwise session with ``nick``, opened by saying hello privately."""
        key = self.keys[nick.casefold()]
        for out in self.ring.direct(nick, key, wire.ChatBody(f"hello from {self.nick}")):
            self.relay(out.nick, out.kind, out.data)
        deadline = time.monotonic() + 10
        while not self.ring._pairwise.is_open(key, nick.casefold()):
            assert time.monotonic() < deadline, f"no session with {nick}"
            self.pump(0.2)

    def gifts(self, nick: str) -> Iterator[bytes]:
        """Sender keys for rooms that do not exist, sealed for ``nick`` (session open)."""
        key = self.keys[nick.casefold()]
        for i in itertools.count():
            gift = wire.SenderKeyGift(f"ghost{i}", os.urandom(8), os.urandom(32), 0, os.urandom(32))
            (out,) = self.ring._pairwise.send(key, "key", wire.encode_gift(gift), nick.casefold())
            yield out.data

    def say_privately(self, nick: str, text: str) -> None:
        for out in self.ring.direct(nick, self.keys[nick.casefold()], wire.ChatBody(text)):
            self.relay(out.nick, out.kind, out.data)

    def close(self) -> None:
        self.raw.close()
