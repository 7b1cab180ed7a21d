"""What ``/ticket`` shows: the host's ticket again, since the one printed at start has
long scrolled away by the time a friend asks for it."""

from __future__ import annotations

from severus_cli.core.client.events import Notice, UiEvent


def ticket_notices(ticket: str | None, hosting: bool, now: float) -> list[UiEvent]:
    """The ticket on a line of its own (easy to select and copy), and how it is used.

    A joiner who came by address has no ticket to give: it says where to get one
    rather than inventing one from what it knows (a ticket also carries addresses and
    the join secret, which only the host can vouch for).
    """
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
