"""``severus join``: connect, register, then chat until /quit or the host goes away."""

from __future__ import annotations

import asyncio
import contextlib
import time

from severus_cli.core.client import ClientCore
from severus_cli.core.events import Notice
from severus_cli.core.identity import Identity
from severus_cli.errors import ConnectionLost
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import AskTrust, connect
from severus_cli.runtime.controller import ChatController
from severus_cli.ui.terminal import make_ui


async def run_join(
    identity: Identity,
    policy: HostPolicy,
    host: str,
    port: int,
    nick: str,
    json_mode: bool,
    ask: AskTrust | None,
) -> None:
    link = await connect(identity, host, port, policy, ask)
    core = ClientCore(nick, time.time())
    ui = make_ui(
        json_mode,
        own_nick=lambda: core.nick,
        nicks=lambda: core.roster.values(),
        rooms=lambda: core.rooms.values(),
        prompt=lambda: f"[{core.current_room}] {core.nick}> ",
    )
    controller = ChatController(ui)
    participant = RemoteParticipant(core, link, controller.show)
    controller.participant = participant
    for text in policy.notices:
        controller.show([Notice(time.time(), text)])
    await participant.register()
    session = asyncio.create_task(participant.run())
    typing = asyncio.create_task(_read_input(controller, ui.read_lines()))
    try:
        done, _ = await asyncio.wait({session, typing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ui.close()
        typing.cancel()
        if not session.done():
            await participant.close()
            session.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session
    if session in done and participant.ended is not None:
        raise ConnectionLost(participant.ended.reason)


async def _read_input(controller: ChatController, lines: object) -> None:
    async for line in lines:  # type: ignore[attr-defined]
        if not controller.handle(line):
            return
