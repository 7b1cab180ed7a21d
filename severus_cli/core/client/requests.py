"""A client's outgoing packets: ids, answers awaited, and pacing to the host's limit.

Room and private messages wait in a queue released by token buckets a little stricter
than the host's (the message one it announced, and the byte allowance every host gives
by default), so a paste of many lines, however long, is delivered in order and none is
refused. Pure bookkeeping: packets in, bytes out, ``now`` from the caller.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from severus_cli.core.host.actions import byte_allowance
from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import MAX_ID
from severus_cli.core.wire.packets import Packet, encode


def pacer(limits: p.RateLimits, now: float) -> TokenBucket:
    """A bucket a little stricter than the host's, so network jitter never trips it."""
    return TokenBucket(max(1.0, limits.burst * 0.8), limits.rate * 0.9, now)


def byte_pacer(limits: p.RateLimits, now: float) -> TokenBucket | None:
    """The same margin under the byte allowance those limits imply (PROTOCOL.md 4.3),
    which every seal and relay spends, paced or not; None when there is none."""
    allowance = byte_allowance(limits.burst, limits.rate, limits.max_data)
    if allowance is None:
        return None
    burst, rate = allowance
    return TokenBucket(burst * 0.8, rate * 0.9, now)


@dataclass(frozen=True, slots=True)
class Request:
    """A packet awaiting its answer; ``kind`` is its wire type (or relay kind)."""

    kind: str
    sent_at: float
    subject: str = ""  # room or nick it is about
    quiet: bool = False  # heartbeat pings show nothing


class Requests:
    def __init__(self, limits: p.RateLimits, now: float) -> None:
        self.pending: dict[int, Request] = {}  # changed only here, with _kinds
        self._kinds: dict[str, int] = {}  # pending requests per kind: count() per message
        self.last_id = 0  # id of the newest request, so callers can match its answer
        self._next_id = 1
        self._paced: deque[tuple[bytes, int]] = deque()  # encoded, bytes of data
        self._bucket = pacer(limits, now)
        self._volume = byte_pacer(limits, now)
        self._outbox: list[bytes] = []

    def new_id(self) -> int:
        request = self.last_id = self._next_id
        self._next_id = self._next_id % MAX_ID + 1
        return request

    def send(self, packet: Packet) -> None:
        """A packet that expects no answer."""
        self._outbox.append(encode(packet))

    def ask(
        self,
        packet: Packet,
        kind: str,
        now: float,
        subject: str = "",
        quiet: bool = False,
        paced: bool = False,
    ) -> None:
        """A packet with an ``id`` whose answer we wait for; ``paced`` ones queue."""
        request: int = packet.id  # type: ignore[attr-defined]
        self._forget(self.pending.get(request))  # an id reused after wrapping around
        self.pending[request] = Request(kind, now, subject, quiet)
        self._kinds[kind] = self._kinds.get(kind, 0) + 1
        size = len(getattr(packet, "data", b""))
        if paced:
            self._paced.append((encode(packet), size))
            self.release(now)
        else:
            if size and self._volume is not None:  # keys go at once; paced ones wait
                self._volume.charge(now, size)
            self._outbox.append(encode(packet))

    def answered(self, request: int | None) -> Request | None:
        answered = self.pending.pop(request, None) if request is not None else None
        self._forget(answered)
        return answered

    def _forget(self, request: Request | None) -> None:
        if request is not None:
            left = self._kinds[request.kind] - 1
            if left:
                self._kinds[request.kind] = left
            else:
                del self._kinds[request.kind]

    def release(self, now: float) -> None:
        paced, bucket, volume = self._paced, self._bucket, self._volume
        while paced and bucket.ready(now):
            if volume is not None and not volume.take(now, paced[0][1]):
                break
            data, _ = paced.popleft()
            bucket.take(now)
            self._outbox.append(data)

    def new_limits(self, limits: p.RateLimits, now: float) -> None:
        self._bucket = pacer(limits, now)
        self._volume = byte_pacer(limits, now)

    @property
    def queued(self) -> int:
        """Messages held back to respect the host's rate limit."""
        return len(self._paced)

    def take(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    def count(self, kinds: frozenset[str]) -> int:
        """Pending requests of these kinds: asked before every message said, so kept as
        counts rather than counted over thousands pending (a pipe into ``send``)."""
        return sum(self._kinds.get(kind, 0) for kind in kinds)
