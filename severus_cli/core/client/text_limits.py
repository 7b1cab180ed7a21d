"""Whether a line may be sent at all: what the host allows and what fits sealed.

Checked before anything is queued, so an over-long line is refused with the limit
named instead of being cut or refused later by the host.
"""

from __future__ import annotations

from severus_cli.core.client import events as ev
from severus_cli.core.wire import packets as p

SEAL_OVERHEAD = 512  # bytes the end-to-end envelope adds to the UTF-8 text


def check_text(text: str, limits: p.RateLimits, now: float) -> ev.Notice | None:
    """None when ``text`` can be sent; otherwise the notice saying why not."""
    if not text:
        return ev.Notice(now, "nothing to send", "error")
    limit = limits.max_text
    if len(text) > limit:
        return ev.Notice(now, f"message too long ({len(text)} > {limit} characters)", "error")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return ev.Notice(now, "the message is not valid text (stray surrogates)", "error")
    most = limits.max_data - SEAL_OVERHEAD
    if size > most:
        return ev.Notice(now, f"message too long ({size} > {most} bytes)", "error")
    return None
