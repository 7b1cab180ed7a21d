"""Plain words for why a connection attempt failed, for lines that repeat.

A reconnecting joiner shows where it stands on one line (updated in place on a
terminal, one per attempt on a pipe). The full error (addresses, hints about
``--mode``, the socket library's own text) helps once, on the command line, but
repeated every few seconds it buries the chat; these lines say the cause in a word or
two that a person recognises.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from severus_cli.errors import SeverusError

# (what the error text contains, lower-cased; the plain cause). The first match wins,
# so a race over several addresses reports the most telling cause: a refused
# connection means the machine is there and the host is not running.
_CAUSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("nothing listens", "refused", "connect call failed"), "connection refused"),
    (("cannot resolve", "name or service not known", "nodename nor servname"), "name not found"),
    (("no route to host",), "no route to host"),
    (("network is unreachable",), "network unreachable"),
    (("went away", "closed the connection", "reset by peer", "eof"), "connection closed"),
    (("tls",), "TLS failed"),
    (("did not answer", "timed out", "no answer", "nothing else answered"), "no answer"),
)
_MAX_OTHER = 60  # an unrecognised cause is shown, but never a screenful of it


def plain_reason(error: SeverusError | str) -> str:
    """A few words saying why ``error`` happened: "connection refused", "no answer"."""
    text = error if isinstance(error, str) else error.message
    lowered = text.lower()
    for needles, cause in _CAUSES:
        if any(needle in lowered for needle in needles):
            return cause
    first = text.removeprefix("no address answered: ").split(";")[0].strip()
    return first if len(first) <= _MAX_OTHER else first[: _MAX_OTHER - 3] + "..."


def retry_line(reason: str, wait: float) -> str:
    """The one line a failed attempt shows: what happened and when the next one is."""
    return f"host unreachable ({reason}); retrying in {wait:.0f} s (/quit to stop)"


def retry_status(
    last: str | None, retry_at: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[], str]:
    """The reconnect's status line as of ``clock()``: it counts down to the next attempt
    at ``retry_at``. ``last``: why the attempt before failed (None: none made yet)."""

    def line() -> str:
        left = retry_at - clock()
        if left <= 0:
            if last is None:
                return "reconnecting now (/quit to stop)"
            return f"host unreachable ({last}); trying again now (/quit to stop)"
        wait = max(1, round(left))
        if last is None:
            return f"reconnecting in {wait} s (/quit to stop)"
        return retry_line(last, wait)

    return line
