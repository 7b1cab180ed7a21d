"""Drive a :class:`ClientCore` over a real link, or in-process inside the host.

Both drivers expose :meth:`perform`: run a core action now, show its events, and
send whatever it queued. The chat controller does not care which one it has.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import Disconnected, UiEvent
from severus_cli.errors import ConnectionLost, RejectedError, RemoteProtocolError
from severus_cli.net.client_link import ClientLink
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.link_move import LinkMove

EventSink = Callable[[list[UiEvent]], None]
CoreAction = Callable[[ClientCore, float], list[UiEvent]]
PACING_TICK = 0.05  # how often held-back messages are released while any wait
# Seconds before saying hello again when the host refused it as one of too many joins
# from our address: it lets one more in every 2 s (PROTOCOL.md 4.3).
HELLO_RETRY = 2.0


class RemoteParticipant:
    """A participant talking to a host over a :class:`ClientLink`."""

    def __init__(
        self,
        core: ClientCore,
        link: ClientLink,
        show: EventSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.link = link
        self._show = show
        self._clock = clock
        self.ended: Disconnected | None = None
        self.holding = False  # a move is under way: what we send waits (net/link_move.py)
        self.move: LinkMove | None = None
        self._closing: asyncio.Task[None] | None = None  # the old link, after a move

    def perform(self, action: CoreAction) -> None:
        events = action(self.core, self._clock())
        self.flush()
        self._emit(events)

    def flush(self) -> None:
        if not self.holding:
            self.link.send(self.core.packets_to_send())

    def _emit(self, events: list[UiEvent]) -> None:
        for event in events:
            if isinstance(event, Disconnected) and self.ended is None:
                self.ended = event
        if not self.core.registered and self.core.rejected is not None:
            # Refused before the welcome (nick taken, banned...): register() raises with
            # the host's reason, said once at exit; a "Disconnected" line first would
            # say it twice, and call a refusal a lost connection.
            events = [e for e in events if not isinstance(e, Disconnected)]
        if events:
            self._show(events)

    async def register(self, timeout: float = 10.0) -> None:
        """Send hello and wait for the welcome; RejectedError carries the host's reason."""
        self.flush()
        slowed = ""
        try:
            async with asyncio.timeout(timeout):
                while not self.core.registered:
                    await self._receive_once()
                    if self.core.hello_refused is not None:  # too many joins from here
                        slowed = self.core.hello_refused.msg
                        await asyncio.sleep(HELLO_RETRY)
                        self.core.hello_again()
                        self.flush()
                    if self.core.rejected is not None:
                        raise RejectedError(f"the host refused: {self.core.rejected.msg}")
                    if self.ended is not None:
                        raise ConnectionLost(self.ended.reason)
        except TimeoutError:
            why = f" ({slowed})" if slowed else ""
            raise ConnectionLost(f"the host did not welcome us within {timeout:g} s{why}") from None

    async def _receive_once(self) -> None:
        try:
            payloads = await self.link.receive()
        except ConnectionLost:
            if self.move is None or not await self.move.landed():
                raise
            payloads, self.move.old_done = [], True  # closed after its ``moved``
        move = self.move
        if move is not None:
            payloads = move.from_old(payloads)
        self._deliver(payloads)
        if move is not None and move.old_done:
            if not await move.landed():
                raise ConnectionLost("the connection ended during a move to another path")
            self._switch(move)

    def _switch(self, move: LinkMove) -> None:
        """The old link said all it will: go on with the new one (PROTOCOL.md 4.8)."""
        old, self.link, self.move = self.link, move.new, None
        self._deliver(move.early)
        self.holding = False
        self.flush()  # what waited during the move
        self._closing = asyncio.get_running_loop().create_task(old.close())

    def _deliver(self, payloads: list[bytes]) -> None:
        now = self._clock()
        events: list[UiEvent] = []
        try:
            for payload in payloads:
                events += self.core.receive(payload, now)
        finally:  # a bad packet ends the session, but what came before it is shown
            self.flush()
            self._emit(events)

    def expire_move(self, move: LinkMove) -> None:
        """The host said ``moved`` on the new link but not yet on the old one: a host
        that never does would hold what we say forever. Closing the old link ends
        the wait: the receive loop goes on with the new one (PROTOCOL.md 4.8)."""
        if self.move is move and self.ended is None:
            self._closing = asyncio.get_running_loop().create_task(self.link.close())

    async def run(self, tick: float = 1.0) -> Disconnected:
        """Receive until the session ends; return why it ended."""
        ticker = asyncio.create_task(self._tick_forever(tick))
        try:
            while self.ended is None:
                try:
                    await self._receive_once()
                except ConnectionLost as error:
                    self._emit([Disconnected(self._clock(), error.message)])
                except RemoteProtocolError as error:
                    self._emit([Disconnected(self._clock(), f"protocol error: {error.message}")])
            if self.move is not None:  # ended mid-move: the new link goes too
                await self.move.new.close()
            return self.ended
        finally:
            ticker.cancel()

    async def _tick_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(PACING_TICK if self.core.queued else interval)
            self.perform(lambda core, now: core.tick(now))
            if self.ended is not None:
                await self.link.close()  # wakes the reader

    async def close(self, reason: str = "") -> None:
        """Say goodbye (after whatever waits) where the host has the session: mid-move,
        that is the new link once the host took the move."""
        move, self.move = self.move, None
        if move is not None and await move.landed():
            old, self.link = self.link, move.new
            await old.close()
        elif move is not None:
            await move.new.close()
        self.holding = False
        self.core.quit(reason)
        self.flush()
        await self.link.close()


class LocalParticipant:
    """The host's own participant: packets go through the host loop in-process. Its
    timers run in the host's own loop (``runtime/host_runner.py``), in step with the
    host's timeouts."""

    def __init__(
        self,
        core: ClientCore,
        host_loop: HostLoop,
        key: bytes,
        show: EventSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self._host = host_loop
        self._show = show
        self._clock = clock
        self.ended: Disconnected | None = None
        self._conn = host_loop.attach_local(self._deliver, key)
        self.flush()

    def _deliver(self, payload: bytes) -> None:
        events = self.core.receive(payload, self._clock())
        self._show(events)
        self.flush()  # answers such as end-to-end handshake replies go out at once

    def flush(self) -> None:
        for payload in self.core.packets_to_send():
            self._host.local_packet(self._conn, payload)

    def perform(self, action: CoreAction) -> None:
        events = action(self.core, self._clock())
        self._show(events)
        self.flush()
