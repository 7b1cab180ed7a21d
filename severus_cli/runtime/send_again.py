"""A send whose nick its own chat took connects again, beside that chat, and sends what
had not been acknowledged (PROTOCOL.md 4.7, ``nick_yielded``): every line arrives.

The host handles what a connection sends in order and answers each message before it
closes the connection, so a message without an answer never reached anyone, and one
with an answer is not sent twice. Private messages still waiting for a session are the
newest ones. Stdin is read once for the whole run: a read in progress when a session
ends is kept for the next one.

Coming back has a bound: a chat that takes the nick again and again (a reconnect loop,
or a host that says ``nick_yielded`` for nothing) would make the send start over without
end, so past ``MAX_YIELDS`` within ``YIELD_WINDOW`` seconds it gives up (exit 6).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from severus_cli.core.client.core import ClientCore
from severus_cli.errors import RejectedError

YIELDED = "nick_yielded"
MAX_YIELDS = 5  # sessions our chat may end within YIELD_WINDOW before send gives up
YIELD_WINDOW = 60.0
T = TypeVar("T")


class MadeWay(Exception):
    """Our chat took the nick: connect again, and send ``unsent`` first."""

    def __init__(self, unsent: list[str], delivered: int) -> None:
        super().__init__(f"{len(unsent)} message(s) to send again")
        self.unsent = unsent
        self.delivered = delivered


def made_way(core: ClientCore, sent: dict[int, str]) -> MadeWay | None:
    """The session ended because our chat took the nick: what to send again. ``sent``:
    each message by the id of its request, oldest first."""
    if core.rejected is None or core.rejected.code != YIELDED:
        return None
    items = list(sent.items())
    waiting = len(items) - core.keyring.queued  # from here on, waiting for a session
    unsent = [
        text
        for at, (request, text) in enumerate(items)
        if request in core.requests.pending or at >= waiting
    ]
    return MadeWay(unsent, len(items) - len(unsent))


class Yields:
    """How often our chat took the nick lately: past ``MAX_YIELDS`` in ``YIELD_WINDOW``
    seconds, a RejectedError (exit 6) that says how much was not sent."""

    def __init__(self, nick: str) -> None:
        self._nick = nick
        self._times: deque[float] = deque()

    def note(self, way: MadeWay, now: float) -> None:
        self._times.append(now)
        while now - self._times[0] > YIELD_WINDOW:
            self._times.popleft()
        if len(self._times) > MAX_YIELDS:
            raise RejectedError(
                f"gave up: our chat took the nick {self._nick} {len(self._times)} times "
                f"within {YIELD_WINDOW:g} s; {len(way.unsent)} message(s) and the rest "
                "of the input were not sent"
            )


class Lines(Generic[T]):
    """Items of ``source`` across sessions, those given back with :meth:`again` first."""

    def __init__(self, source: AsyncIterator[T]) -> None:
        self._source = source
        self._again: list[T] = []
        self._reading: asyncio.Future[T] | None = None

    def again(self, items: list[T]) -> None:
        self._again[:0] = items

    def step(self) -> asyncio.Future[T]:
        """The next item, when it comes; call :meth:`took` once it is used."""
        if self._again:
            ready: asyncio.Future[T] = asyncio.get_running_loop().create_future()
            ready.set_result(self._again.pop(0))
            return ready
        if self._reading is None:
            self._reading = asyncio.ensure_future(anext(self._source))
        return self._reading

    def took(self, step: asyncio.Future[T]) -> None:
        if step is self._reading:
            self._reading = None

    def close(self) -> None:
        """Stop a read in progress: nobody will use what it brings."""
        if self._reading is not None:
            self._reading.cancel()
