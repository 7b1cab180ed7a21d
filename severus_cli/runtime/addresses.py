"""Where a host can be reached: this machine's interface addresses."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from dataclasses import replace

from severus_cli.core.trust.ticket import Endpoint, Ticket

_SIOCGIFADDR = 0x8915


def _ipv4_of(interface: str) -> str | None:
    """The IPv4 address of ``interface`` (Linux ioctl); None where there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), _SIOCGIFADDR, struct.pack("256s", interface[:15].encode())
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def interface_addresses() -> list[str]:
    """IPv4 addresses of every interface, non-loopback first."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for _, name in socket.if_nameindex():
            address = _ipv4_of(name)
            if address and address not in found:
                found.append(address)
    if not found:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
                address = str(info[4][0])
                if address not in found:
                    found.append(address)
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).is_loopback, a))


def reachable_addresses(bind: str | None) -> list[str]:
    """Addresses to tell people, given what the host is bound to."""
    if bind in (None, "", "0.0.0.0", "::"):
        return interface_addresses() or ["127.0.0.1"]
    assert bind is not None
    return [bind]


def join_address(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def with_external(ticket: Ticket, transport: str, external: str, port: int) -> Ticket:
    """``ticket`` with the router's mapped address first: friends out on the internet,
    who need it, are who tickets are mostly for; one on the LAN loses only the stagger."""
    first = Endpoint(transport, external, port)
    rest = tuple(e for e in ticket.endpoints if e != first)
    return replace(ticket, endpoints=(first, *rest))


def worth_mapping(bind: str | None) -> bool:
    """False for a host bound to loopback: a router cannot forward to it."""
    if bind in (None, "", "0.0.0.0", "::"):
        return True
    assert bind is not None
    try:
        return not ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return bind != "localhost"
