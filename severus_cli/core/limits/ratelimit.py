"""A token bucket: bursts up to ``capacity``, then ``rate`` per second."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; refill by the time elapsed.

        The same arithmetic as ``ready``, without max() and min() calls: a host takes
        from a bucket for every message it relays."""
        elapsed = now - self.stamp
        self.stamp = now
        tokens = self.tokens + elapsed * self.rate if elapsed > 0.0 else self.tokens
        if tokens > self.capacity:
            tokens = self.capacity
        if tokens >= cost:
            self.tokens = tokens - cost
            return True
        self.tokens = tokens
        return False

    def ready(self, now: float, cost: float = 1.0) -> bool:
        """Whether ``take(now, cost)`` would succeed, spending nothing: a sender that
        must satisfy two buckets at once asks both before it takes from either."""
        elapsed = max(0.0, now - self.stamp)
        return min(self.capacity, self.tokens + elapsed * self.rate) >= cost

    def charge(self, now: float, cost: float) -> None:
        """Spend ``cost`` whether or not it is there, going into debt (at most one
        ``capacity`` deep): for what is sent unpaced but still counts against the
        same allowance, so what is paced waits until the debt is repaid."""
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = max(
            -self.capacity, min(self.capacity, self.tokens + elapsed * self.rate) - cost
        )
