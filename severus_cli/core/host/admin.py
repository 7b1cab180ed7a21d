"""The host operator's commands (/kick, /ban, /unban, /bans), sans-IO.

A mixin of :class:`~severus_cli.core.host.core.HostCore`: each command returns an
:class:`AdminResult` whose actions the host loop applies like any other. A kicked or
banned participant gets a fatal error saying why, so its client stops rather than
reconnecting; the host's own participant can be neither.
"""

from __future__ import annotations

from severus_cli.core.host.actions import Action, Close, Participant, Send
from severus_cli.core.host.moderation import AdminResult, Ban, Moderation, parse_target
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import encode


class HostAdmin:
    _peers: dict[int, Participant]
    _nicks: dict[str, int]
    _local: set[int]
    moderation: Moderation

    def kick(self, nick: str, reason: str, now: float) -> AdminResult:
        """Disconnect ``nick`` with a fatal ``kicked``; they may come back."""
        conn = self._nicks.get(nick.casefold())
        if conn is None or conn in self._local:
            return AdminResult(False, f"nobody else is called {nick}")
        name = self._peers[conn].nick
        actions = self._expel(conn, "kicked", "you were kicked by the host", reason)
        return AdminResult(True, f"kicked {name}", tuple(actions))

    def ban(self, target: str, until: float | None, reason: str, now: float) -> AdminResult:
        """Ban the key of a nick (connected or recently left) or a fingerprint, for
        ``until - now`` seconds (None: until the host stops), and expel it at once."""
        key_fp, nick = parse_target(target)
        if nick is not None:
            found = self._whose(nick)
            if found is None:
                return AdminResult(False, f"nobody called {nick} was here; ban a SHA256: key")
            nick, key_fp = found[0], fingerprint(found[1])
        assert key_fp is not None
        if any(fingerprint(self._peers[c].key) == key_fp for c in self._local):
            return AdminResult(False, "that is the host's own key")
        ban = Ban(key_fp, nick or "", until, reason)
        if not self.moderation.add(ban):
            return AdminResult(False, "the ban list is full; /unban someone first")
        actions: list[Action] = []
        for conn, peer in list(self._peers.items()):
            if fingerprint(peer.key) == key_fp:
                actions += self._expel(conn, "banned", "you were banned from this host", reason)
        who = f"{nick} ({key_fp})" if nick else key_fp
        return AdminResult(True, f"banned {who}, {ban.remaining(now)}", tuple(actions))

    def unban(self, target: str, now: float) -> AdminResult:
        """Lift a ban, named by fingerprint or by the nick it was made under."""
        ban = self.moderation.remove(target, now)
        if ban is None:
            return AdminResult(False, f"no ban matches {target}")
        return AdminResult(True, f"unbanned {ban.nick or ban.key_fp}")

    def bans(self, now: float) -> list[Ban]:
        return self.moderation.active(now)

    def _whose(self, nick: str) -> tuple[str, bytes] | None:
        conn = self._nicks.get(nick.casefold())
        if conn is not None:
            peer = self._peers[conn]
            return peer.nick, peer.key
        return self.moderation.recent(nick)

    def _expel(self, conn: int, code: str, message: str, reason: str) -> list[Action]:
        """A fatal error for ``conn`` and its close; others see "``code`` by the host"."""
        why = f"{message}: {reason}" if reason else message
        error = p.Error(None, code, why[: p.MAX_SHORT], fatal=True)
        said = f"{code} by the host" + (f": {reason}" if reason else "")
        return [Send(conn, encode(error)), Close(conn, said[: p.MAX_SHORT])]
