"""``severus join``: connect, register, chat; reconnect with backoff when the host goes.

The screen and the typed-line handler live for the whole run; each connection gets a
fresh :class:`ClientCore` that rejoins the rooms the previous one was in, under the
same nick (the host lets the same key take its nick back at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import Notice
from severus_cli.core.client.paths import PathHistory
from severus_cli.core.client.routes import describe_path
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.known_peers import KnownPeers
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.core.wire.packets import LOBBY
from severus_cli.errors import ConnectionLost, Interrupted, RejectedError
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import AskTrust, connect
from severus_cli.runtime.controller import ChatController
from severus_cli.runtime.input_order import handle_lines
from severus_cli.runtime.participant_factory import new_core
from severus_cli.runtime.path_upgrade import upgrade_path, wants_upgrade
from severus_cli.runtime.reconnect import reconnect_link
from severus_cli.ui.terminal import make_ui


class _Current:
    """The session in use now; the UI's callbacks read through it."""

    def __init__(self, core: ClientCore) -> None:
        self.core = core


async def run_join(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    nick: str,
    json_mode: bool,
    ask: AskTrust | None,
    reconnect: bool = True,
) -> None:
    link = await connect(identity, endpoints, policy, ask)
    peers = KnownPeers(policy.config_dir, policy.label)
    current = _Current(new_core(identity, nick, peers))
    ui = make_ui(
        json_mode,
        own_nick=lambda: current.core.nick,
        nicks=lambda: current.core.roster.nicks.values(),
        rooms=lambda: current.core.rooms.values(),
        prompt=lambda: f"[{current.core.current_room}] {current.core.nick}> ",
    )
    history = PathHistory()  # for /stats: every path the session took, and when
    controller = ChatController(ui, path=history.describe, ticket=policy.ticket)
    if peers.problem:
        policy.notices.append(f"known peers are not checked this time: {peers.problem}")
    for text in policy.notices:
        controller.show([Notice(time.time(), text)])
    typing: asyncio.Task[None] | None = None
    try:
        while True:
            participant = RemoteParticipant(current.core, link, controller.show)
            controller.participant = participant
            await participant.register()
            peers.save()  # first-sight pins last even if this process is killed
            history.now(link.path, time.time())
            if typing is None:  # lines typed (or piped) early wait for the welcome
                lines = ui.read_lines()
                in_order = getattr(ui, "in_order", False)
                typing = asyncio.create_task(handle_lines(controller, lines, in_order))
            if link.path != "direct":
                controller.show([Notice(time.time(), f"connected over {describe_path(link.path)}")])
            session = asyncio.create_task(participant.run())
            upgrade = None  # a relayed session looks for a better path meanwhile
            if wants_upgrade(link, participant):
                better = upgrade_path(
                    identity, endpoints, policy, participant, history, controller.show
                )
                upgrade = asyncio.create_task(better)
            await asyncio.wait({session, typing}, return_when=asyncio.FIRST_COMPLETED)
            if upgrade is not None:
                upgrade.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upgrade
            link = participant.link  # (it may have moved to a better path)
            if typing.done():
                await _let_keys_out(participant, session)
                session.cancel()  # first, so our own goodbye is not taken for a lost host
                with contextlib.suppress(asyncio.CancelledError):
                    await session
                await participant.close()
                if getattr(ui, "interrupted", False):  # Ctrl-C on an empty prompt
                    raise Interrupted()
                return
            controller.participant = None
            reason = participant.ended.reason if participant.ended else "connection lost"
            rejected = current.core.rejected
            await link.close()
            if rejected is not None:
                raise RejectedError(f"the host ended the session: {rejected.msg}")
            if not reconnect:
                raise ConnectionLost(reason)
            link = await reconnect_link(identity, endpoints, policy, ui, reason, typing)
            peers.save()
            rooms = _rooms_to_rejoin(current.core)
            before = current.core.snapshot()  # shown against who is there now
            nick = current.core.nick  # after a /nick, come back under the new one
            current.core = new_core(identity, nick, peers, rooms, before=before)
            controller.show([Notice(time.time(), "reconnected")])
    finally:
        if typing is not None:
            typing.cancel()
        ui.close()
        peers.save()


async def _let_keys_out(
    participant: RemoteParticipant, session: asyncio.Task[object], limit: float = 5.0
) -> None:
    """Before leaving, give what we just said (and the keys to read it) time to reach
    the host: input from a pipe often ends right after its last line."""
    deadline = time.monotonic() + limit
    while participant.core.unacknowledged and not session.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _rooms_to_rejoin(core: ClientCore) -> tuple[str, ...]:
    """Every room we were in, the current one last (so it becomes current again)."""
    rooms = [r for r in core.rooms.values() if r.casefold() != core.current_room.casefold()]
    if core.current_room.casefold() != LOBBY:
        rooms.append(core.current_room)
    return tuple(rooms)
