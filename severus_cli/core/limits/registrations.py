"""How often one source address may register a new participant, sans-IO.

Every registration (a ``hello`` that gets a ``welcome``) makes the whole lobby hear a
``joined``, and its end a ``left``; each makes every member rotate its room keys. The
per-address connection cap bounds how many one address holds *at once*, not how often
it comes and goes: a loop of connect, hello, disconnect (a new key each time, so bans
do not help) would otherwise put lines on everyone's screen without limit. So each
source (an IPv4 address or an IPv6 /64, :func:`~severus_cli.core.limits.sources.source_key`)
gets a token bucket of registrations; a hello over it is refused, non-fatally, and may
be sent again later on the same connection (PROTOCOL.md 4.3).

Connections through a relay share one source, ``relayed``: the host cannot see where
they come from, and a loop through the relay must be bounded too. The host's own
participant has no source and is never refused.
"""

from __future__ import annotations

from severus_cli.core.limits.ratelimit import TokenBucket

TOO_MANY_CONNECTIONS = "slow down: too many connections from your address"
RELAYED = "relayed"  # the source of every connection that came through a relay
MAX_SOURCES = 4096  # buckets kept at once: one per address that registered recently


class RegistrationGate:
    """A registration bucket per source; ``burst`` 0 means no limit."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self.refused = 0
        self._buckets: dict[str, TokenBucket] = {}

    def allow(self, source: str, now: float) -> bool:
        """Spend one registration of ``source`` (``""``: not limited); False if over."""
        if not source or self.burst <= 0:
            return True
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= MAX_SOURCES:
                self._prune(now)
            bucket = self._buckets[source] = TokenBucket(self.burst, self.rate, now)
        if bucket.take(now):
            return True
        self.refused += 1
        return False

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they hold nothing a new one would not);
        if every one is still draining, the oldest half, so memory stays bounded while
        an attacker spread over many addresses keeps each of them limited a while."""
        full = [s for s, b in self._buckets.items() if b.ready(now, b.capacity)]
        for source in full:
            del self._buckets[source]
        if len(self._buckets) >= MAX_SOURCES:
            for source in list(self._buckets)[: MAX_SOURCES // 2]:
                del self._buckets[source]

    def __len__(self) -> int:
        return len(self._buckets)
