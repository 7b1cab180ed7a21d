"""``/nick``: a participant changes its nick, the host's side (PROTOCOL.md 4.1, ``nick``).

A mixin of :class:`~severus_cli.core.host.core.HostCore`. The identity key stays the same, so
the host only moves the name. Clients that said they understand it (``nick`` in the
caps of their hello) hear one ``renamed``; older clients hear what they already know,
the old nick leaving and the new one joining the lobby and each shared room, so their
end-to-end state follows without any new code. Everyone hears a rename, so it is
charged like a join others hear (the membership allowance), besides the request itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from severus_cli.core.host.actions import (
    Action,
    Broadcast,
    HostConfig,
    Log,
    Participant,
    Room,
    Send,
)
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY, encode

RENAMES = "nick"  # the capability, in a hello's and a welcome's caps


class HostRename:
    _peers: dict[int, Participant]
    _nicks: dict[str, int]
    _rooms: dict[str, Room]
    _local: set[int]
    config: HostConfig
    moderation: Any

    if TYPE_CHECKING:  # given by HostCore and HostLimits

        def _reply_error(
            self, conn: int, request: int, code: str, message: str
        ) -> list[Action]: ...

        def _change(self, peer: Participant, request: int, now: float) -> list[Action] | None: ...

        def _hearing(self, room: Room, but: int = 0) -> tuple[int, ...]: ...

        def _drop_secondaries(self, holder: Participant, why: str) -> list[Action]: ...

    def _rename(self, peer: Participant, packet: p.Nick, now: float) -> list[Action]:
        old, new = peer.nick, packet.nick
        if peer.holder:  # a send-only connection speaks under its holder's nick
            return self._reply_error(peer.conn, packet.id, "bad_packet", "a send keeps its nick")
        if new == old:
            return [Send(peer.conn, encode(p.Ok(packet.id)))]
        holder = self._nicks.get(new.casefold())
        if holder is not None and holder != peer.conn:
            return self._reply_error(peer.conn, packet.id, "nick_taken", f"the nick {new} is taken")
        refused = self._change(peer, packet.id, now)  # everyone hears of it
        if refused:
            return refused
        del self._nicks[old.casefold()]
        self._nicks[new.casefold()] = peer.conn
        peer.nick = new
        if peer.conn in self._local:  # the host itself: later welcomes name it so
            self.config.host_nick = new
        self.moderation.remember(old, peer.key)  # /ban OLD still finds the key a while
        lobby = self._rooms[LOBBY]
        knowing = tuple(c for c in self._hearing(lobby) if RENAMES in self._peers[c].caps)
        # Its sends end: members forget the sessions of the old nick, theirs included.
        actions = self._drop_secondaries(peer, "your session under this nick was renamed")
        actions.append(Broadcast(knowing, encode(p.Renamed(old, new))))
        for conn in lobby.members:
            if conn not in knowing and conn != peer.conn:
                actions += self._as_leave_and_join(peer, old, conn)
        # After its renamed: the sender holds back what it says until then.
        actions.append(Send(peer.conn, encode(p.Ok(packet.id))))
        actions.append(Log(f"{old} is now {new}"))
        return actions

    def _as_leave_and_join(self, peer: Participant, old: str, conn: int) -> list[Action]:
        """A rename for a client older than ``renamed``: the old nick disconnects (which
        takes it out of every room) and the new one connects and joins the shared rooms."""
        lobby = self._rooms[LOBBY]
        count = len(lobby.members)
        packets: list[p.Packet] = [
            p.Left(old, LOBBY, count, f"now known as {peer.nick}"),
            p.Joined(peer.nick, LOBBY, count, peer.key),
        ]
        for key in peer.rooms:
            room = self._rooms[key]
            if key != LOBBY and conn in room.members:
                packets.append(p.Joined(peer.nick, room.name, len(room.members), peer.key))
        return [Send(conn, encode(packet)) for packet in packets]
