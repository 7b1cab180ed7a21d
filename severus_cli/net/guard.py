"""Per-address connection caps, shared by every transport of one host.

A connection is counted from its first packet (TCP accept, QUIC Initial), before TLS,
so one address cannot hold more than ``max_per_ip`` TLS handshakes (about 300 KiB
each) or sessions at once. IPv6 addresses count per /64, the block one subscriber
usually gets; IPv4-mapped IPv6 addresses count as their IPv4 address.
"""

from __future__ import annotations

import ipaddress


def source_key(address: str) -> str:
    """The unit a cap applies to: an IPv4 address or an IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class ConnectionGuard:
    """Counts open connections per source; ``max_per_ip`` 0 means no cap."""

    def __init__(self, max_per_ip: int) -> None:
        self.max_per_ip = max_per_ip
        self.refused = 0
        self._open: dict[str, int] = {}

    def acquire(self, address: str) -> str | None:
        """Count a new connection from ``address``; its key to release, or None if full."""
        key = source_key(address)
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
        return self._open.get(source_key(address), 0)
