"""Per-address connection caps, shared by every transport of one host.

A connection is counted from its first packet (TCP accept; for QUIC, the Initial that
passed address validation by Retry, so a spoofed source takes no slot), before TLS,
so one address cannot hold more than ``max_per_ip`` TLS handshakes (about 300 KiB
each) or sessions at once. IPv6 addresses count per /64, the block one subscriber
usually gets; IPv4-mapped IPv6 addresses count as their IPv4 address.
"""

from __future__ import annotations

import functools

from severus_cli.core.limits.sources import source_key

__all__ = ["ConnectionGuard", "source_key"]

# Parsing an address costs 3 µs (IPv4) to 17 µs (IPv6) with ipaddress, paid on every
# accept; the same few addresses come back, and a miss only costs the parse.
_source_key = functools.lru_cache(maxsize=256)(source_key)


class ConnectionGuard:
    """Counts open connections per source; ``max_per_ip`` 0 means no cap."""

    def __init__(self, max_per_ip: int) -> None:
        self.max_per_ip = max_per_ip
        self.refused = 0
        self._open: dict[str, int] = {}

    def acquire(self, address: str) -> str | None:
        """Count a new connection from ``address``; its key to release, or None if full."""
        key = _source_key(address)
        count = self._open.get(key, 0)
        if self.max_per_ip and count >= self.max_per_ip:
            self.refused += 1
            return None
        self._open[key] = count + 1
        return key

    def release(self, key: str) -> None:
        count = self._open.get(key, 0) - 1
        if count > 0:
            self._open[key] = count
        else:
            self._open.pop(key, None)

    def count(self, address: str) -> int:
        return self._open.get(_source_key(address), 0)
