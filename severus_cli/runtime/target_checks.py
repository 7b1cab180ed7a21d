"""What ``join``'s address argument cannot be, said before anything is looked up.

Two mistakes are common and otherwise give a misleading error: a URL copied from a
browser (its ``//`` would be read as a port), and a ticket that lost its end in the
copy (short enough that it would be looked up as a host name, and fail as one).
"""

from __future__ import annotations

import re
import socket

from severus_cli.core.trust.ticket import PREFIX, TicketError
from severus_cli.errors import UsageError

# A ticket holds a 32-byte key, a 32-byte certificate hash, a version byte and a
# 4-byte check: base32 of those 69 bytes alone is 111 characters, "sev" included.
SHORTEST_TICKET = len(PREFIX) + (69 * 8 + 4) // 5
_TICKET_CHARS = re.compile(r"[a-z2-7]+")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def refuse_url(target: str) -> None:
    """``https://host/...`` is not an address to join: say what is."""
    if _URL.match(target.strip()):
        raise UsageError(
            f"{target.strip()[:80]!r} is a URL, not an address: give HOST[:PORT] (such as "
            "192.168.1.20:3000 or chat.example.org) or the host's ticket (sev...)"
        )


def refuse_cut_short_ticket(target: str) -> None:
    """A word that starts like a ticket but is too short to be one, and is no host name
    that resolves, is a ticket cut short: say so rather than "cannot resolve"."""
    text = "".join(target.split()).lower()
    body = text.removeprefix(PREFIX)
    if body == text or not _TICKET_CHARS.fullmatch(body) or len(text) >= SHORTEST_TICKET:
        return
    try:
        socket.getaddrinfo(text, None)
    except (OSError, UnicodeError):
        raise TicketError(
            f"the ticket is cut short ({len(text)} characters; a whole one has at least "
            f"{SHORTEST_TICKET}): copy it again, whole"
        ) from None
