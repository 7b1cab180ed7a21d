"""A joiner whose host went away tries again, with exponential backoff, until it gets
through or the user quits.

Where it stands is a status, not a stream of lines: on a terminal one line below the
prompt that updates in place (cause, countdown), on a pipe one line per attempt. The
caller prints the final line ("reconnected"); giving up ends the command with its error.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence

from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.errors import ConnectionLost, Interrupted, TransportError
from severus_cli.net.client_link import ClientLink
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import connect
from severus_cli.runtime.retry_notes import plain_reason, retry_status
from severus_cli.ui.terminal import ChatUI

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
ATTEMPT_TIMEOUT = 5.0  # one attempt: a host that is back answers well within this


async def reconnect_link(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    ui: ChatUI,
    reason: str,
    typing: asyncio.Task[None],
) -> ClientLink:
    """A new link to the host; ConnectionLost (or Interrupted on Ctrl-C) when the user
    stops typing (/quit, Ctrl-D, end of piped input) before it works. ``reason``: why
    the last session ended, said if we give up."""
    delay = BACKOFF_FIRST
    last: str | None = None  # why the attempt before failed, in plain words
    try:
        while True:
            wait = delay * random.uniform(0.8, 1.2)
            ui.status(retry_status(last, time.monotonic() + wait), "warn" if last else "info")
            done, _ = await asyncio.wait({typing}, timeout=wait)
            if done and getattr(ui, "interrupted", False):
                raise Interrupted()
            if done:
                raise ConnectionLost(f"gave up reconnecting: {reason}")
            try:
                return await connect(identity, endpoints, policy, ask=None, timeout=ATTEMPT_TIMEOUT)
            except TransportError as error:
                last = plain_reason(error)
            delay = min(delay * 2, BACKOFF_MAX)
    finally:
        ui.status(None)
