"""``severus send``: post stdin to a host and exit once every line is acknowledged."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from severus_cli.core.client.core import SEAL_OVERHEAD, ClientCore
from severus_cli.core.client.events import Notice, UiEvent
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.known_peers import KnownPeers
from severus_cli.core.trust.peer_trust import send_refusal
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.core.wire.packets import MAX_TEXT
from severus_cli.errors import (
    ChangedPeerKeyError,
    ConfigError,
    ConnectionLost,
    RejectedError,
    UsageError,
)
from severus_cli.net.client_link import ClientLink
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import connect
from severus_cli.runtime.participant_factory import new_core
from severus_cli.runtime.send_again import Lines, MadeWay, Yields, made_way

RETRY_DELAY = 0.25
READ_REST = 2.0  # seconds to read what came before a connection ended (its reason)
MAX_RETRIES = 200


@dataclass
class SendOptions:
    nick: str
    to: str | None = None
    room: str | None = None
    whole: bool = False
    ack_timeout: float = 15.0
    peers: dict[str, str] = field(default_factory=dict)  # --peer NICK=SHA256:...


MAX_LINE_BYTES = 4 * MAX_TEXT + 4  # longer than any message can be: the rest is not kept


@dataclass(frozen=True)
class _Line:
    """One message from stdin and where it was: ``text`` None when it was too long to keep."""

    number: int
    text: str | None


async def _messages(stdin: IO[bytes], whole: bool) -> AsyncIterator[_Line]:
    """Messages from ``stdin`` as they arrive: one per non-empty line, or all of it as one.

    A daemon thread reads, so Ctrl-C ends ``send`` at once even while stdin is silent (a
    worker thread blocked in ``readline`` would hold the interpreter at exit); a short
    queue keeps it from reading ahead of the network, and no line is kept past
    ``MAX_LINE_BYTES``, so a huge line costs no memory.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[_Line | None] = asyncio.Queue(maxsize=64)

    def put(item: _Line | None) -> bool:
        try:
            asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        except (RuntimeError, concurrent.futures.CancelledError):
            return False  # the loop is gone: nobody reads any more
        return True

    threading.Thread(
        target=_read_messages, args=(stdin, whole, put), name="stdin", daemon=True
    ).start()
    while (item := await queue.get()) is not None:
        yield item


def _chunks(stdin: IO[bytes]) -> Iterator[bytes]:
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    while True:
        try:
            chunk = os.read(fd, 65536) if fd >= 0 else stdin.read(65536)
        except OSError:
            return
        if not chunk:
            return
        yield chunk


def _read_messages(stdin: IO[bytes], whole: bool, put: Callable[[_Line | None], bool]) -> None:
    def message(number: int, raw: bytes, overlong: bool) -> bool:
        if overlong:
            return put(_Line(number, None))
        text = raw.decode("utf-8", "replace").rstrip("\r\n" if whole else "\r")
        return put(_Line(number, text)) if text else True

    pending = b""
    number = 0
    overlong = False
    for chunk in _chunks(stdin):
        pending += chunk
        if whole:
            overlong = overlong or len(pending) > MAX_LINE_BYTES
            pending = pending[: MAX_LINE_BYTES + 1]
            continue
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            number += 1
            if not message(number, raw, overlong):
                return
            overlong = False
        if len(pending) > MAX_LINE_BYTES:
            overlong, pending = True, b""
    if whole or pending or overlong:
        message(number + 1, pending, overlong)
    put(None)


def _too_long(core: ClientCore, line: _Line, whole: bool) -> str | None:
    """Why ``line`` cannot be one message under the host's limits, or None if it can."""
    name = "stdin" if whole else f"line {line.number}"
    most = core.limits.max_data - SEAL_OVERHEAD
    if line.text is None:
        return f"{name} (over {MAX_LINE_BYTES:,} bytes)"
    if len(line.text) > core.limits.max_text:
        return f"{name} ({len(line.text):,} characters)"
    size = len(line.text.encode("utf-8", "surrogatepass"))
    if size > most:
        return f"{name} ({size:,} bytes of UTF-8, over {most:,})"
    return None


def _refusal(core: ClientCore, refused: list[str], whole: bool) -> UsageError:
    limit = f"a message is at most {core.limits.max_text:,} characters"
    if whole:
        return UsageError(f"nothing was sent, over the limit ({limit}): {refused[0]}")
    listed = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
    return UsageError(
        f"not sent, over the limit ({limit}): {listed}; every other line was delivered"
    )


async def run_send(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    options: SendOptions,
    stdin: IO[bytes] | None = None,
) -> int:
    """Send every message; return how many were delivered. Raises on any failure,
    ChangedPeerKeyError (exit 4) when a recipient's key is not the trusted one,
    ConfigError (exit 3) when known_peers.json cannot be read (so nothing is checked), and
    UsageError (exit 2) for lines over the host's limits: those are skipped, and every
    other line is still delivered, so a script loses nothing it could have sent."""
    link = await connect(identity, endpoints, policy, ask=None)
    peers = KnownPeers(policy.config_dir, policy.label)
    if peers.problem:  # a script never encrypts to keys it cannot check against its pins
        await link.close()
        raise ConfigError(f"{peers.problem}. Nothing was sent: no recipient's key could be checked")
    lines = Lines(_messages(stdin or sys.stdin.buffer, options.whole))
    refused: list[str] = []  # over the limits: said at the end, every other line sent
    delivered = 0
    yields = Yields(options.nick)
    try:
        while True:
            try:
                return delivered + await _send(identity, link, peers, options, lines, refused)
            except MadeWay as way:  # our chat took the nick: on, beside it (send_again.py)
                delivered += way.delivered
                yields.note(way, time.monotonic())  # not without end
                lines.again([_Line(0, text) for text in way.unsent])
                link = await connect(identity, endpoints, policy, ask=None)
    finally:
        lines.close()
        peers.save()


async def _send(
    identity: Identity,
    link: ClientLink,
    peers: KnownPeers,
    options: SendOptions,
    lines: Lines[_Line],
    refused: list[str],
) -> int:
    def ignore(events: list[UiEvent]) -> None:
        """Failures are read from the core's request bookkeeping instead."""

    rooms = (options.room,) if options.room else ()
    # Send-only: beside our own chat under the same nick, and unseen (PROTOCOL.md 4.7).
    core = new_core(identity, options.nick, peers, rooms, options.peers, send_only=True)
    participant = RemoteParticipant(core, link, ignore)
    await participant.register()
    if options.room and options.room.casefold() not in core.rooms:
        raise RejectedError(f"the host did not let us into room {options.room}")
    reader = asyncio.create_task(participant.run())
    try:
        await _settled(participant, options)
    except BaseException:
        await participant.close()
        reader.cancel()
        raise
    label = core.peers.label
    conflict = core.peers.conflicts.get(options.to.casefold()) if options.to else None
    sent: dict[int, str] = {}
    delivered = 0
    try:
        if conflict is not None:  # before reading stdin: nothing goes to that key
            raise ChangedPeerKeyError(send_refusal([conflict], label))
        async for line in _until_ended(lines, reader):
            problem = _too_long(core, line, options.whole)
            if problem is not None or line.text is None:
                refused.append(problem or f"line {line.number}")
                continue
            text = line.text
            _post(participant, options, text)
            sent[core.last_id] = text
            await link.drain()
            if participant.ended is not None:
                break
        delivered = await _await_acks(participant, options, sent)
    except ConnectionLost:
        await asyncio.wait({reader}, timeout=READ_REST)  # what the host said before it ended
        way = made_way(core, sent)
        if way is None:
            raise
        raise way from None
    finally:
        await participant.close()
        reader.cancel()
    if core.peers.skipped:
        raise ChangedPeerKeyError(send_refusal([*core.peers.skipped.values()], label, delivered))
    if refused:
        raise _refusal(core, refused, options.whole)
    return delivered


async def _settled(participant: RemoteParticipant, options: SendOptions) -> None:
    """Wait to learn who is in the room the host put us in (the members our key goes
    to), within ``ack_timeout``: a host that never says must not hang a script."""
    core = participant.core
    deadline = time.monotonic() + options.ack_timeout
    while core.settling and participant.ended is None:
        if time.monotonic() > deadline:
            raise ConnectionLost(
                f"the host did not say who is in #{options.room} within "
                f"{options.ack_timeout:g} s; nothing was sent"
            )
        await asyncio.sleep(0.005)


async def _until_ended(lines: Lines[_Line], reader: asyncio.Task[Any]) -> AsyncIterator[_Line]:
    """``lines`` until they end or the session does (``reader`` finishing): a send that
    follows a quiet log stops as soon as the host ends the session (our chat under this
    nick left, say), instead of at the next line. A read in progress is kept, for the
    next session if there is one."""
    while True:
        step = lines.step()
        await asyncio.wait({step, reader}, return_when=asyncio.FIRST_COMPLETED)
        if not step.done():
            return
        lines.took(step)
        try:
            yield step.result()
        except StopAsyncIteration:
            return


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
    core = participant.core
    conflict = core.peers.conflicts.get(options.to.casefold()) if options.to else None
    if refused and conflict is not None and core.peers.blocked(conflict.nick, conflict.key):
        # The host swapped the key after the first lines went out: exit 4, as at the start.
        raise ChangedPeerKeyError(send_refusal([conflict], core.peers.label))
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
        if core.rejected is not None:  # e.g. our chat under this nick ended (replaced)
            raise made_way(core, sent) or RejectedError(
                f"the host ended the session: {core.rejected.msg}"
            )
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
