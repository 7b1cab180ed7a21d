"""Asking a home router to forward a port: NAT-PMP, PCP and UPnP-IGD. Pure code.

Most home routers forward a port when a program on the LAN asks, which is how a host
behind one becomes reachable with no relay. Each protocol has its own module of
encoders and decoders (bytes in, values out); ``severus_cli.runtime.portmap`` does
the sending. Everything here treats the router's replies as hostile: sizes are
bounded, and anything malformed raises :class:`PortmapError`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

TCP = "tcp"
UDP = "udp"
DEFAULT_LEASE = 300  # seconds; short, so a host killed without cleanup leaves little
MIN_LEASE = 30  # a router granting less is renewed as if it granted this much

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598: carrier-grade NAT


class PortmapError(ValueError):
    """A reply that is not a well-formed answer to what we asked."""


@dataclass(frozen=True, slots=True)
class Mapped:
    """A mapping the router granted: ``external``:``port`` reaches us for ``lifetime`` s."""

    protocol: str  # "PCP", "NAT-PMP" or "UPnP": shown to people
    external: str
    port: int
    lifetime: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The router answered, and said no: ``reason`` is the result code in words."""

    protocol: str
    reason: str


def renew_after(lifetime: int) -> float:
    """Seconds until a lease is renewed: halfway, as RFC 6886 and RFC 6887 suggest."""
    return max(lifetime, MIN_LEASE) / 2


def moved(before: Mapped, after: Mapped) -> bool:
    """Whether a renewal came back elsewhere: friends then need a new ticket."""
    return (before.external, before.port) != (after.external, after.port)


def behind_another_nat(external: str) -> bool:
    """True when a router's own external address cannot be reached from the internet:
    private, shared (100.64.0.0/10, carrier-grade NAT), link-local or unspecified.
    A mapping on such a router only moves the problem to the next NAT up."""
    try:
        address = ipaddress.ip_address(external)
    except ValueError:
        return True
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return True
    return bool(address.is_private or address.is_unspecified or address.is_link_local)
