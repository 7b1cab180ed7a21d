"""What one participant may ask of the host, and what happens when it asks for more.

A mixin of :class:`~severus_cli.core.host.core.HostCore`. Every request is charged to a
token bucket (PROTOCOL.md 4.3): messages and control relays by count, and both by the
bytes they carry, so a sender cannot queue more for a recipient than a slow link drains;
joins and parts that others hear by a small bucket of their own, so one participant
cannot make a room's members churn keys; everything else by a general request bucket.
A refused request gets a non-fatal ``rate_limited``; a peer that keeps going after
many refusals is flooding, not chatting, and is disconnected so that it cannot keep
the host busy answering it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from severus_cli.core.host.actions import Action, Close, HostConfig, Participant, Send
from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.native import mypyc_attr
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import encode

TOO_MANY_MESSAGES = "slow down: too many messages"
TOO_MANY_BYTES = "slow down: too many bytes"
TOO_MANY_REQUESTS = "slow down: too many requests"
TOO_MANY_CHANGES = "slow down: too many joins and parts"
FLOODING = "too many requests over the rate limit"

Handler = Callable[[Participant, Any, float], list[Action]]


def give_allowances(peer: Participant, config: HostConfig, now: float) -> None:
    """Fill ``peer``'s buckets (no byte bucket when messages are unlimited)."""
    peer.bucket = TokenBucket(config.rate_burst, config.rate_per_second, now)
    peer.control = TokenBucket(config.control_burst, config.control_per_second, now)
    byte_limit = config.byte_limit
    if byte_limit is not None:
        peer.volume = TokenBucket(*byte_limit, now)
    peer.requests = TokenBucket(config.request_burst, config.request_per_second, now)
    peer.membership = TokenBucket(config.membership_burst, config.membership_per_second, now)
    peer.strikes = TokenBucket(config.strike_burst, config.strike_per_second, now)


@mypyc_attr(allow_interpreted_subclasses=True)  # a base of HostCore, which tests subclass
class HostLimits:
    _local: set[int]
    _message_limit: int

    def _charged(self, handler: Handler) -> Handler:
        """``handler`` behind the request bucket."""

        def charged(peer: Participant, packet: Any, now: float) -> list[Action]:
            return self._ask(peer, packet.id, now) or handler(peer, packet, now)

        return charged

    def _too_long(self, peer: Participant, request: int, data: bytes) -> list[Action] | None:
        limit = self._message_limit
        if len(data) <= limit:
            return None
        error = p.Error(request, "too_long", f"messages are limited to {limit} bytes")
        return [Send(peer.conn, encode(error))]

    def _spend(
        self, peer: Participant, request: int, now: float, bucket: TokenBucket | None, size: int
    ) -> list[Action] | None:
        """Charge a message of ``size`` bytes to ``bucket`` and to the byte allowance
        together (neither is spent if either is short); a refusal if over."""
        assert bucket is not None
        volume = peer.volume
        if volume is not None:
            if not volume.take(now, size):
                return self._refuse(peer, request, now, TOO_MANY_BYTES)
            if not bucket.take(now):
                volume.tokens += size  # given back: a refused message spends neither
                return self._refuse(peer, request, now, TOO_MANY_MESSAGES)
            return None
        if bucket.take(now):
            return None
        return self._refuse(peer, request, now, TOO_MANY_MESSAGES)

    def _ask(self, peer: Participant, request: int | None, now: float) -> list[Action] | None:
        """Charge one request (join, part, names, rooms, whois, ping); a refusal if over."""
        bucket = peer.requests
        if bucket is None or bucket.take(now):
            return None
        return self._refuse(peer, request, now, TOO_MANY_REQUESTS)

    def _change(self, peer: Participant, request: int, now: float) -> list[Action] | None:
        """Charge a join or part that the room's members will hear about."""
        bucket = peer.membership
        if bucket is None or bucket.take(now):
            return None
        return self._refuse(peer, request, now, TOO_MANY_CHANGES)

    def _refuse(
        self, peer: Participant, request: int | None, now: float, message: str
    ) -> list[Action]:
        """A non-fatal ``rate_limited``, or, once the peer has used up its strikes,
        a fatal one and the connection closed (never the host's own participant)."""
        strikes = peer.strikes
        if strikes is None or strikes.take(now) or peer.conn in self._local:
            error = p.Error(request, "rate_limited", message)
            return [Send(peer.conn, encode(error))]
        error = p.Error(None, "rate_limited", FLOODING, fatal=True)
        return [Send(peer.conn, encode(error)), Close(peer.conn, FLOODING)]
