"""Which ``punchto`` announcements a host acts on, and how often: pure decisions.

Each ``punchto`` makes the host send six datagrams to the address in it. The relay
only passes on a participant's request to punch towards the participant's own
address (PROTOCOL.md 11.3), but the host does not have to trust the relay for that
alone: it never sends towards an address no participant can have (multicast,
broadcast, unspecified), gives each target address (an IPv6 /64 as one) a small
allowance of its own, and all targets together a larger one, so neither a stranger
nor a hostile relay can turn the host into a packet cannon.
"""

from __future__ import annotations

import ipaddress

from severus_cli.core.limits.ratelimit import TokenBucket
from severus_cli.core.limits.sources import source_key
from severus_cli.core.nat.relay_packets import Address

TOTAL_BURST, TOTAL_RATE = 10.0, 2.0  # punches in all: at once, then per second
TARGET_BURST, TARGET_RATE = 3.0, 0.2  # towards one address or /64
MAX_TARGETS = 4096  # target buckets remembered before they are forgotten at once


def punchable(host: str) -> bool:
    """Whether a participant could be at ``host`` at all."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    return not (isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved)  # 240/4, broadcast


class PunchPolicy:
    """The host's punch allowance: per target and in total."""

    def __init__(self, now: float = 0.0) -> None:
        self._total = TokenBucket(TOTAL_BURST, TOTAL_RATE, now)
        self._targets: dict[str, TokenBucket] = {}

    def allow(self, target: Address, now: float) -> bool:
        """Whether to punch towards ``target`` now (spends its allowance if so)."""
        if not punchable(target[0]):
            return False
        key = source_key(target[0])
        bucket = self._targets.get(key)
        if bucket is None:
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()  # bounded; the total allowance still holds
            bucket = self._targets[key] = TokenBucket(TARGET_BURST, TARGET_RATE, now)
        return bucket.take(now) and self._total.take(now)
