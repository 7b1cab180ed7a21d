"""Moving a joiner's session onto a new link without losing or repeating a packet.

PROTOCOL.md 4.8, the client's half. The order of events:

1. A ``ping`` goes out on the old link, and from then on nothing else does: what the
   user types, and whatever the core makes meanwhile, waits in the core.
2. Its ``pong`` means the host has handled everything sent before it on the old link.
3. ``hello`` with ``moving`` goes out on the new link; its first answer says whether
   the host took the move (``moved``) or not (an ``err``: the session stays put).
4. The old link is read until its own ``moved`` (or its end, or ``OLD_WAIT``: a host
   that never says it must not hold what the user says forever). Only then are the
   new link's packets handled, so none overtakes an older one.
5. What waited goes out on the new link.

:class:`LinkMove` is the state shared by the task that makes the move and the
participant's receive loop, which handles steps 4 and 5 (``net/participant.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from severus_cli.core.client.core import CLIENT_NAME
from severus_cli.core.wire import packets as p
from severus_cli.errors import ConnectionLost, RemoteProtocolError
from severus_cli.net.client_link import ClientLink

if TYPE_CHECKING:
    from severus_cli.net.participant import RemoteParticipant

MOVED = p.encode(p.Moved())
ANSWER_WAIT = 10.0  # seconds for the host to answer a ping or a moving hello
# Seconds the old link has, once the new one said ``moved``, to say it too (a relay
# may still be passing on a backlog); then it is closed and the new link goes on.
OLD_WAIT = 10.0


class MoveRefused(Exception):
    """The session stays on its old link (why: the message)."""


class LinkMove:
    """One move in progress: the new link, its answer, and what it said after."""

    def __init__(self, new: ClientLink) -> None:
        self.new = new
        self.old_done = False  # the old link said ``moved``, or ended
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.early: list[bytes] = []  # what came on the new link right after ``moved``

    def from_old(self, payloads: list[bytes]) -> list[bytes]:
        """The old link's packets up to (not including) its ``moved``."""
        for index, data in enumerate(payloads):
            if is_moved(data):
                self.old_done = True
                return payloads[:index]
        return payloads

    async def landed(self) -> bool:
        """Whether the host took the move (waits for its answer on the new link)."""
        if self.answer.done():
            return self.answer.result()
        try:  # (not wait_for: on 3.11 it loses a cancellation that meets the answer)
            async with asyncio.timeout(ANSWER_WAIT):
                return await asyncio.shield(self.answer)
        except TimeoutError:
            return False


async def move_session(participant: RemoteParticipant, new: ClientLink) -> None:
    """Move ``participant``'s session onto ``new``; raises :class:`MoveRefused` (and
    closes ``new``) when it stays where it was. Returns once the host took it: the
    participant's receive loop finishes the switch. Cancelled once the moving hello
    is out, it first waits for the answer: a move the host took stays in place, so
    that what is said at a quit goes where the session now is."""
    core = participant.core
    participant.perform(lambda c, now: c.ping(now, quiet=True))
    barrier = core.last_id
    participant.holding = True
    move: LinkMove | None = None
    answering: asyncio.Future[list[bytes]] | None = None
    try:
        async with asyncio.timeout(ANSWER_WAIT):
            while barrier in core.requests.pending:  # step 2
                if participant.ended is not None:
                    raise MoveRefused("the session ended")
                await asyncio.sleep(0.01)
        move = participant.move = LinkMove(new)
        caps = (*p.CAPS, p.MOVING)
        new.send([p.encode(p.Hello(core.nick, CLIENT_NAME, (), caps))])  # step 3
        answering = asyncio.ensure_future(_answer(new))
        try:
            payloads = await asyncio.shield(answering)
        except asyncio.CancelledError:  # (a quit) the host may be moving the session:
            with contextlib.suppress(TimeoutError, ConnectionLost, MoveRefused):
                _settle(participant, move, await answering)  # learn where, so that
            raise  # the goodbye goes there (RemoteParticipant.close)
        _settle(participant, move, payloads)
    except BaseException as error:  # (cancelled too: the session goes on where it was)
        if answering is not None:
            answering.cancel()  # (done by now, unless cancelled twice)
        if move is not None and move.answer.done() and move.answer.result():
            raise  # it moved: the receive loop, or close(), goes on with the new link
        if move is not None and not move.answer.done():
            move.answer.set_result(False)
        participant.move = None
        participant.holding = False
        participant.flush()
        await new.close()
        if not isinstance(error, TimeoutError | ConnectionLost | MoveRefused):
            raise
        raise MoveRefused(str(error) or "no answer in time") from None


async def _answer(new: ClientLink) -> list[bytes]:
    """The new link's first packets: the host's answer to the moving hello."""
    async with asyncio.timeout(ANSWER_WAIT):
        payloads: list[bytes] = []
        while not payloads:
            payloads = await new.receive()
        return payloads


def _settle(participant: RemoteParticipant, move: LinkMove, payloads: list[bytes]) -> None:
    """The host's answer: ``moved`` (the move is on) or a refusal (MoveRefused)."""
    if not is_moved(payloads[0]):
        raise MoveRefused(_refusal(payloads[0]))
    move.early = payloads[1:]
    move.answer.set_result(True)
    asyncio.get_running_loop().call_later(OLD_WAIT, participant.expire_move, move)


def is_moved(data: bytes) -> bool:
    """Whether ``data`` is a ``moved`` (as this host encodes it, or with fields a later
    version may add: anything short that says so)."""
    if data == MOVED:
        return True
    if len(data) > 256 or b"moved" not in data:
        return False
    try:
        return isinstance(p.decode_from_host(data), p.Moved)
    except RemoteProtocolError:
        return False


def _refusal(payload: bytes) -> str:
    try:
        packet = p.decode_from_host(payload)
    except RemoteProtocolError as error:
        return error.message
    return packet.msg if isinstance(packet, p.Error) else f"{packet.TYPE} instead of moved"
