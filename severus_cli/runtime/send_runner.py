"""``severus send``: post stdin to a host and exit once every line is acknowledged."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TextIO

from severus_cli.core.client import ClientCore
from severus_cli.core.events import Notice, UiEvent
from severus_cli.core.identity import Identity
from severus_cli.core.ticket import Endpoint
from severus_cli.errors import ConnectionLost, RejectedError
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import connect
from severus_cli.runtime.participant_factory import new_core

RETRY_DELAY = 0.25
MAX_RETRIES = 200


@dataclass
class SendOptions:
    nick: str
    to: str | None = None
    room: str | None = None
    whole: bool = False
    ack_timeout: float = 15.0


async def _lines(stream: TextIO, whole: bool) -> AsyncIterator[str]:
    """Messages from ``stream`` as they arrive: one per line, or all of it as one."""
    if whole:
        data = await asyncio.to_thread(stream.read)
        text = data.rstrip("\n")
        if text:
            yield text
        return
    while True:
        line = await asyncio.to_thread(stream.readline)
        if not line:
            return
        line = line.rstrip("\r\n")
        if line:
            yield line


async def run_send(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    options: SendOptions,
    stream: TextIO = sys.stdin,
) -> int:
    """Send every message; return how many were delivered. Raises on any failure."""
    link = await connect(identity, endpoints, policy, ask=None)

    def ignore(events: list[UiEvent]) -> None:
        """Failures are read from the core's request bookkeeping instead."""

    rooms = (options.room,) if options.room else ()
    core = new_core(identity, options.nick, None, rooms)
    participant = RemoteParticipant(core, link, ignore)
    await participant.register()
    if options.room and options.room.casefold() not in core.rooms:
        raise RejectedError(f"the host did not let us into room {options.room}")
    reader = asyncio.create_task(participant.run())
    while core.settling and participant.ended is None:  # room members, to hand keys to
        await asyncio.sleep(0.005)
    sent: dict[int, str] = {}
    delivered = 0
    try:
        async for text in _lines(stream, options.whole):
            _post(participant, options, text)
            sent[core.last_id] = text
            await link.drain()
            if participant.ended is not None:
                break
        delivered = await _await_acks(participant, options, sent)
    finally:
        await participant.close()
        reader.cancel()
    return delivered


def _post(participant: RemoteParticipant, options: SendOptions, text: str) -> None:
    """Send one message; a refusal by our own core (no such nick, too long) is final."""
    refused: list[str] = []

    def post(core: ClientCore, now: float) -> list[UiEvent]:
        if options.to:
            events = core.tell(options.to, text, now)
        else:
            events = core.say(text, now, room=options.room)
        refused.extend(e.text for e in events if isinstance(e, Notice) and e.level == "error")
        return events

    participant.perform(post)
    if refused:
        raise RejectedError(refused[0])


async def _await_acks(
    participant: RemoteParticipant, options: SendOptions, sent: dict[int, str]
) -> int:
    """Wait for every acknowledgement, re-sending what the host asked us to slow down."""
    core = participant.core
    deadline = time.monotonic() + options.ack_timeout
    retries = 0
    while True:
        if participant.ended is not None:
            raise ConnectionLost(
                f"the session ended before every message was acknowledged: "
                f"{participant.ended.reason}"
            )
        throttled = [f for f in core.failures if f.code == "rate_limited" and f.id in sent]
        if throttled:
            core.failures = [f for f in core.failures if f not in throttled]
            retries += len(throttled)
            if retries > MAX_RETRIES:
                raise RejectedError("the host kept refusing: too many messages too fast")
            await asyncio.sleep(RETRY_DELAY)
            for failure in throttled:
                assert failure.id is not None
                text = sent.pop(failure.id)
                _post(participant, options, text)
                sent[core.last_id] = text
            deadline = time.monotonic() + options.ack_timeout
            continue
        if core.failures:
            reasons = "; ".join(dict.fromkeys(f.msg or f.code for f in core.failures))
            raise RejectedError(f"the host refused: {reasons}")
        if core.unacknowledged == 0:
            return len(sent)
        if time.monotonic() > deadline:
            raise ConnectionLost(
                f"{core.unacknowledged} message(s) not acknowledged within "
                f"{options.ack_timeout:g} s"
            )
        await asyncio.sleep(0.01)
