"""Room messages held until their sender's key arrives, with a quota per sender.

The host may relay a room message before the hand-out of its key (the sender's pairwise
session may still be opening), so it waits here a while. With one shared queue, junk
from one member evicted an honest member's message, silently. Now each sender has its
own quota; over the total, the sender holding the most bytes loses its oldest; and every
eviction is counted by nick, so the user is told whose messages were dropped. Pure code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from severus_cli.core.e2e import wire

MAX_PENDING = 256  # room messages held in all
MAX_PENDING_PER_SENDER = 128  # a burst the host allows (30, then 10/s) while its key is in flight
MAX_PENDING_BYTES = 8 * 1024 * 1024  # ciphertext held in all
PENDING_TTL = 10.0  # seconds; then the message is reported as unreadable

Sender = tuple[bytes, str]  # (identity key, casefolded nick)


@dataclass(frozen=True, slots=True)
class Pending:
    received: float
    key: bytes  # the roster key of ``nick`` when it arrived
    nick: str
    room: str
    sealed: wire.Sealed
    ts: float

    @property
    def sender(self) -> Sender:
        return (self.key, self.nick.casefold())

    @property
    def size(self) -> int:
        return len(self.sealed.ciphertext) + 128


class Held:
    """The held messages, oldest first."""

    def __init__(self) -> None:
        self._items: list[Pending] = []
        self._count: Counter[Sender] = Counter()
        self._bytes: Counter[Sender] = Counter()
        self._total_bytes = 0
        self.evicted: Counter[str] = Counter()  # nick -> messages dropped for room

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Pending) -> None:
        if self._count[item.sender] >= MAX_PENDING_PER_SENDER:
            self._evict(item.sender)
        self._items.append(item)
        self._count[item.sender] += 1
        self._bytes[item.sender] += item.size
        self._total_bytes += item.size
        while len(self._items) > MAX_PENDING or self._total_bytes > MAX_PENDING_BYTES:
            self._evict(max(self._bytes, key=self._bytes.__getitem__))

    def take(self, wanted: Callable[[Pending], bool]) -> list[Pending]:
        """Remove and return the held messages ``wanted`` picks, oldest first."""
        taken = [item for item in self._items if wanted(item)]
        if taken:
            self._items = [item for item in self._items if not wanted(item)]
            for item in taken:
                self._forget(item)
        return taken

    def expire(self, now: float) -> list[str]:
        """Nicks (one per message) whose held messages waited PENDING_TTL in vain."""
        return [item.nick for item in self.take(lambda i: now - i.received >= PENDING_TTL)]

    def _evict(self, sender: Sender) -> None:
        oldest = next(i for i, item in enumerate(self._items) if item.sender == sender)
        item = self._items.pop(oldest)
        self._forget(item)
        self.evicted[item.nick] += 1

    def _forget(self, item: Pending) -> None:
        self._count[item.sender] -= 1
        self._bytes[item.sender] -= item.size
        self._total_bytes -= item.size
        if not self._count[item.sender]:
            del self._count[item.sender]
            del self._bytes[item.sender]
