"""The host operator's /kick, /ban, /bans and /unban, carried out on the running host.

Only the host's own chat has one: the commands go straight to the host core, in
process, never over the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from severus_cli.core.client.events import Notice
from severus_cli.core.host.moderation import AdminResult
from severus_cli.errors import UsageError
from severus_cli.net.host_loop import HostLoop
from severus_cli.ui import input as cmd

ModerationIntent = cmd.Kick | cmd.Ban | cmd.ListBans | cmd.Unban


class Moderator:
    def __init__(self, host_loop: HostLoop, clock: Callable[[], float] = time.time) -> None:
        self._loop = host_loop
        self._clock = clock

    def handle(self, intent: ModerationIntent) -> list[Notice]:
        """Carry out one command; what to tell the operator."""
        now = self._clock()
        try:
            match intent:
                case cmd.Kick(nick=nick, reason=reason):
                    result = self._loop.admin(lambda core, t: core.kick(nick, reason, t))
                case cmd.Ban(target=target, seconds=seconds, reason=reason):
                    until = None if seconds is None else now + seconds
                    result = self._loop.admin(lambda core, t: core.ban(target, until, reason, t))
                case cmd.Unban(target=target):
                    result = self._loop.admin(lambda core, t: core.unban(target, t))
                case cmd.ListBans():
                    return self._list(now)
        except UsageError as error:
            result = AdminResult(False, error.message)
        return [Notice(now, result.message, "info" if result.ok else "error")]

    def _list(self, now: float) -> list[Notice]:
        bans = self._loop.core.bans(now)
        if not bans:
            return [Notice(now, "No bans.")]
        lines = [Notice(now, f"{len(bans)} ban{'s' if len(bans) != 1 else ''}:")]
        for ban in bans:
            who = f"{ban.nick} " if ban.nick else ""
            why = f": {ban.reason}" if ban.reason else ""
            lines.append(Notice(now, f"  {who}{ban.key_fp} ({ban.remaining(now)}){why}"))
        return lines
