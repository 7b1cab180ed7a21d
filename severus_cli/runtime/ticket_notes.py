"""What ``/ticket`` shows: the host's ticket again, since the one printed at start has
long scrolled away by the time a friend asks for it; and the host's ticket as it
stands, when the router moves the mapping it carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from severus_cli.core.client.events import Notice, UiEvent
from severus_cli.core.trust.ticket import Endpoint, Ticket, encode_ticket

TicketSource = str | Callable[[], str | None] | None  # fixed, or read when shown


class HostTicket:
    """The host's ticket, current: /ticket shows this one. A router that renews the
    mapping on another external address or port (a new address from the provider, a
    reboot) makes the printed ticket stale; :meth:`moved` swaps the mapped endpoint."""

    def __init__(self, ticket: Ticket, transport: str, mapped: tuple[str, int] | None) -> None:
        self.ticket = ticket
        self.transport = transport
        self.mapped = mapped
        self.text = encode_ticket(ticket)

    def __call__(self) -> str:
        return self.text

    def moved(self, external: str, port: int) -> str:
        """Put ``external:port`` first in place of the old mapping; the notice to show."""
        new = Endpoint(self.transport, external, port)
        old = Endpoint(self.transport, *self.mapped) if self.mapped else None
        rest = tuple(e for e in self.ticket.endpoints if e not in (old, new))
        self.ticket = replace(self.ticket, endpoints=(new, *rest))
        self.mapped = (external, port)
        self.text = encode_ticket(self.ticket)
        return (
            f"The router now forwards {external}:{port} to this host, so the ticket "
            f"changed (/ticket shows it; friends join with it): {self.text}"
        )


def ticket_notices(source: TicketSource, hosting: bool, now: float) -> list[UiEvent]:
    """The ticket on a line of its own (easy to select and copy), and how it is used.

    A joiner who came by address has no ticket to give: it says where to get one
    rather than inventing one from what it knows (a ticket also carries addresses and
    the join secret, which only the host can vouch for).
    """
    ticket = source() if callable(source) else source
    if ticket is None:
        if hosting:
            return [Notice(now, "this host has no ticket to show", "error")]
        return [
            Notice(
                now,
                "You joined by address, so there is no ticket here: the host prints it "
                "when it starts, and again with /ticket in its own chat.",
            )
        ]
    whose = "This host's ticket" if hosting else "The ticket you joined with"
    return [
        Notice(now, f"{whose} (friends join with: severus join TICKET --nick NAME):"),
        Notice(now, ticket),
    ]
