"""A send whose nick its own chat took connects again, beside that chat, and sends what
had not been acknowledged (PROTOCOL.md 4.7, ``nick_yielded``): every line arrives.

The host handles what a connection sends in order and answers each message before it
closes the connection, so a message without an answer never reached anyone, and one
with an answer is not sent twice. Private messages still waiting for a session are the
newest ones. Stdin is read once for the whole run: a read in progress when a session
ends is kept for the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Generic, TypeVar

from severus_cli.core.client.core import ClientCore

YIELDED = "nick_yielded"
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
