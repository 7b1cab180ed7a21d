"""The unit a per-address cap counts: shared by the host's transports and the relay.

One subscriber usually gets a whole IPv6 /64, so counting IPv6 addresses one by one
would let a single machine take any number of slots by rotating through its prefix.
IPv4-mapped IPv6 addresses (from a dual-stack socket) count as the IPv4 address.
Pure code.
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
