"""Lines from a pipe are handled in order: each command's answer before the next line.

A bot writes ``/join ops`` and then ``for ops`` at once; the room only changes when the
host's answer to the join arrives, so reading the second line earlier would say it in
the old room. Piped and JSON input therefore wait, after a line that asked the host
something, until that answer came (or the session ended). A command also waits, before
it runs, until what was said before it was delivered (acknowledged, and its room key
out to the members): ``hi`` then ``/leave`` must reach the room while we are in it.
Plain text does not wait for its acknowledgement: the room it goes to is fixed as it is
sealed, so what follows cannot overtake it, and bots keep their pace. A terminal does
not wait at all: its prompt would freeze while a host hangs, and a person reads before
typing on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from functools import partial

from severus_cli.core.client.core import COUNTED, ClientCore
from severus_cli.runtime.controller import ChatController
from severus_cli.ui import input as cmd

POLL = 0.005  # seconds between looks at whether the answer came
ANSWER_LIMIT = 60.0  # a bound for a host that never answers yet never drops us either
DELIVERY_LIMIT = 10.0  # a bound for a key a member never picks up (the keyring tells)


def awaited(core: ClientCore, before: set[int]) -> set[int]:
    """Requests asked since ``before`` (the pending ids then) that expect an answer
    the user waits for: not what was said (it only awaits an acknowledgement)."""
    return {
        rid
        for rid, request in core.requests.pending.items()
        if rid not in before and request.kind not in COUNTED and not request.quiet
    }


async def handle_lines(
    controller: ChatController, lines: AsyncIterator[str], in_order: bool
) -> None:
    """Act on every line until /quit or the end of input."""
    async for line in lines:
        participant = controller.participant
        if not in_order or participant is None:
            if not controller.handle(line):
                return
            continue
        core = participant.core
        if not _speaks(line):
            await _settled(controller, core, _undelivered, DELIVERY_LIMIT)
        before = set(core.requests.pending)
        if not controller.handle(line):
            return
        asked = awaited(core, before)
        await _settled(controller, core, partial(_unanswered, asked), ANSWER_LIMIT)


def _undelivered(core: ClientCore) -> bool:
    return core.unacknowledged > 0


def _unanswered(asked: set[int], core: ClientCore) -> bool:
    return bool(asked & core.requests.pending.keys())


def _speaks(line: str) -> bool:
    """Whether ``line`` only says something (text, /me, /msg) or nothing at all."""
    intent = cmd.parse_line(line)
    return intent is None or isinstance(intent, cmd.Say | cmd.Direct)


async def _settled(
    controller: ChatController,
    core: ClientCore,
    waiting: Callable[[ClientCore], bool],
    limit: float,
) -> None:
    """Until ``waiting`` is over, the session in use changed (a reconnect starts a
    fresh core) or ended, or ``limit`` seconds passed."""
    deadline = time.monotonic() + limit
    while waiting(core):
        current = controller.participant
        if current is None or current.core is not core or getattr(current, "ended", None):
            return
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(POLL)
