"""Ways to reach a host, and the names the UI gives them. Pure data.

A ticket lists direct addresses; when it also names a relay, joining adds one more
route, :class:`RelayRoute`, which is tried at the same time as the direct ones and
itself races hole punching against relaying.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from severus_cli.core.nat.relay_link import parse_hostport
from severus_cli.core.trust.ticket import Endpoint, Ticket, TicketError

PATHS = {
    "direct": "direct (TCP + TLS)",
    "quic": "direct (QUIC)",
    "punched": "punched (QUIC straight through both NATs)",
    "relayed": "relayed (through the relay, which sees only ciphertext)",
}


def describe_path(path: str) -> str:
    return PATHS.get(path, path)


@dataclass(frozen=True, slots=True)
class RelayRoute(Endpoint):
    """Reach host ``key`` through the relay at ``host:port``: punch when the host
    serves QUIC (``punch``), else or meanwhile have the relay splice a byte pipe."""

    key: bytes = b""
    punch: bool = True
    stun: str | None = None  # HOST:PORT of a STUN server; default: the relay's own
    map_port: bool = False  # ask our router to forward the punching socket's port

    def __str__(self) -> str:
        return f"relay {Endpoint.__str__(self)}"


def relay_routes(ticket: Ticket, mode: str | None, stun: str | None) -> list[Endpoint]:
    """The route through the ticket's relay, if it names one. Punching needs a host
    that serves QUIC, and is off when the participant forces ``--mode direct``."""
    if ticket.relay is None:
        return []
    try:
        host, port = parse_hostport(ticket.relay)
    except ValueError:
        raise TicketError("the ticket has a malformed relay address") from None
    punch = mode != "direct" and any(e.transport == "quic" for e in ticket.endpoints)
    return [RelayRoute("relay", host, port, ticket.key, punch, stun)]


def with_port_mapping(endpoints: list[Endpoint]) -> list[Endpoint]:
    """``endpoints``, with each relay route that punches also asking our router to
    forward the punching socket's port (``join --map``)."""
    return [
        replace(e, map_port=True) if isinstance(e, RelayRoute) and e.punch else e for e in endpoints
    ]
