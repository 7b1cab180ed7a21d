"""What the host answers without changing anything: the welcome, ``rooms``, ``names``
and ``whois`` (PROTOCOL.md 4.1, 4.2).

A mixin of :class:`~severus_cli.core.host.core.HostCore`, split from it to keep the routing
rules short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from severus_cli.core.host.actions import Action, HostConfig, Participant, Room, Send
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.packets import LOBBY, encode


class HostQueries:
    config: HostConfig
    _peers: dict[int, Participant]
    _nicks: dict[str, int]
    _rooms: dict[str, Room]

    if TYPE_CHECKING:  # given by HostCore

        def _reply_error(
            self, conn: int, request: int, code: str, message: str
        ) -> list[Action]: ...

    def _welcome(self, peer: Participant, rejoined: tuple[str, ...]) -> list[Action]:
        """The welcome for ``peer``, and the rest of the lobby's roster after it."""
        lobby = self._rooms[LOBBY]
        users = tuple((self._peers[c].nick, self._peers[c].key) for c in lobby.members)
        limits = p.RateLimits(
            self.config.rate_burst,
            self.config.rate_per_second,
            self.config.max_text,
            self.config.message_limit,
        )
        # A big lobby does not fit one packet: the welcome carries the first page of the
        # roster and `roster` packets the rest, before anything else is sent.
        pages = [users[i : i + p.ROSTER_PAGE] for i in range(0, len(users), p.ROSTER_PAGE)]
        welcome = p.Welcome(
            peer.nick, self.config.host_nick, pages[0], rejoined, self.config.motd, limits
        )
        welcome.caps = p.CAPS  # the nick request (4.6); via and send-only hellos (4.7)
        sends: list[Action] = [Send(peer.conn, encode(welcome))]
        sends += [Send(peer.conn, encode(p.Roster(page))) for page in pages[1:]]
        return sends

    def _list_rooms(self, peer: Participant, packet: p.ListRooms, now: float) -> list[Action]:
        rooms = tuple((r.name, len(r.members)) for r in self._rooms.values())
        return [Send(peer.conn, encode(p.RoomList(packet.id, rooms)))]

    def _names(self, peer: Participant, names: p.Names) -> list[Action]:
        room = self._rooms.get(names.room.casefold())
        if room is None:
            return self._reply_error(
                peer.conn, names.id, "no_such_room", f"there is no room {names.room}"
            )
        users = tuple(self._peers[c].nick for c in room.members)
        return [Send(peer.conn, encode(p.Users(names.id, room.name, users)))]

    def _whois(self, peer: Participant, whois: p.Whois, now: float) -> list[Action]:
        conn = self._nicks.get(whois.nick.casefold())
        if conn is None:
            return self._reply_error(
                peer.conn, whois.id, "no_such_nick", f"nobody is called {whois.nick}"
            )
        target = self._peers[conn]
        rooms = tuple(self._rooms[k].name for k in target.rooms)
        reply = p.WhoisReply(whois.id, target.nick, target.key, rooms, now - target.registered_at)
        return [Send(peer.conn, encode(reply))]
