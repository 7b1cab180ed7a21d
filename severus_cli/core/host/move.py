"""Moving a session onto another connection of the same identity (PROTOCOL.md 4.8).

A mixin of :class:`~severus_cli.core.host.core.HostCore`. A participant that joined
through a relay keeps looking for a direct or punched path; when it finds one it says
``hello`` there with ``moving`` in its caps. Were that an ordinary hello, the old
connection would be replaced ("you connected again from elsewhere") and everyone
would see the nick leave and come back, and rotate their keys. A move instead hands
the registration itself, with its nick, rooms, allowances and send-only connections,
to the new connection: nobody else hears of it. The old connection gets ``moved`` as
its last packet and is closed, the new one gets ``moved`` as its answer, so the
client knows where one stream of packets ends and the next begins.

Only the key that holds the nick may move it (another key is refused as any hello
for a taken nick is), and the move is a registration like any other for the
per-address limits: its hello spends a registration token, and the new address
must have room for the rooms the participant would hold from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severus_cli.core.host.actions import (
    Action,
    Close,
    HostConfig,
    Log,
    Participant,
    Room,
    Send,
)
from severus_cli.core.limits.room_shares import rooms_per_source
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY, encode

MOVED = encode(p.Moved())


class HostMove:
    _peers: dict[int, Participant]
    _rooms: dict[str, Room]
    _nicks: dict[str, int]
    _local: set[int]
    _sources: dict[int, str]
    config: HostConfig

    if TYPE_CHECKING:  # given by HostCore and its other mixins

        def _fatal(self, conn: int, code: str, message: str) -> list[Action]: ...

        def rooms_held(self, source: str) -> int: ...

    def _move(
        self, peer: Participant, holder: Participant | None, hello: p.Hello, now: float
    ) -> list[Action]:
        """``peer`` (which proved ``holder``'s key) takes over ``holder``'s registration."""
        why = self._move_refusal(peer, holder, hello)
        if why is not None:
            return self._fatal(peer.conn, "cannot_move", why)
        assert holder is not None
        old, new = holder.conn, peer.conn
        del self._peers[old]  # its close, below, is then no leave: nobody hears a thing
        holder.conn, holder.last_seen = new, now
        holder.caps = tuple(c for c in hello.caps if c != p.MOVING)
        self._peers[new] = holder
        self._nicks[holder.nick.casefold()] = new
        for key in holder.rooms:
            room = self._rooms[key]
            room.members = {new if c == old else c: None for c in room.members}
        for conn in holder.secondaries.values():
            self._peers[conn].holder = new
        return [
            Send(old, MOVED),
            Close(old, "moved to another connection"),
            Send(new, MOVED),
            Log(f"{holder.nick} moved to another connection"),
        ]

    def _move_refusal(
        self, peer: Participant, holder: Participant | None, hello: p.Hello
    ) -> str | None:
        """Why this move may not happen (None: it may)."""
        if holder is None:
            return f"no session of yours under the nick {hello.nick} to move"
        if holder.key != peer.key:  # (the caller refuses it as nick_taken first)
            return f"the nick {hello.nick} is not yours"
        if holder.send_only or holder.holder or p.SEND_ONLY in hello.caps:
            return "a send-only connection does not move"
        if holder.conn in self._local:
            return "the host's own session does not move"
        source = self._sources.get(peer.conn, "")
        limit = rooms_per_source(self.config)
        if source and limit > 0 and source != self._sources.get(holder.conn, ""):
            alone = sum(1 for k in holder.rooms if k != LOBBY and len(self._rooms[k].members) == 1)
            if alone and self.rooms_held(source) + alone > limit:
                return f"your new address would hold more than {limit} rooms"
        return None
