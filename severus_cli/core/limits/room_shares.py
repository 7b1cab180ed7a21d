"""How many rooms one source address holds, so that one address cannot take them all.

A mixin of :class:`~severus_cli.core.host.core.HostCore`. Each participant may be in
``max_rooms_per_user`` rooms and one address may hold ``max_per_ip`` connections: by
default 16 x 16, every one of the host's 256 rooms. So a new room is also refused to a
source (an IPv4 address or an IPv6 /64, every relayed connection as one, as
registrations count it: :mod:`~severus_cli.core.limits.registrations`) that already holds its
share: the rooms it created and is still in, and those whose every member came from it.
Joining a room someone else holds is never refused for this, and the host's own
participant has no source, so it is never refused (PROTOCOL.md 4.3).
"""

from __future__ import annotations

from severus_cli.core.host.actions import HostConfig, Participant, Room
from severus_cli.core.wire.packets import LOBBY

ROOMS_PER_SOURCE_SHARE = 8  # by default one source may hold max_rooms // 8 rooms


def rooms_per_source(config: HostConfig) -> int:
    """The rooms one source may hold (0: no cap)."""
    if config.max_rooms_per_ip is not None:
        return config.max_rooms_per_ip
    return max(1, config.max_rooms // ROOMS_PER_SOURCE_SHARE)


def too_many_from_source(limit: int) -> str:
    return f"your address holds {limit} rooms, the most one address may; part one first"


class RoomShares:
    config: HostConfig
    _peers: dict[int, Participant]
    _rooms: dict[str, Room]
    _sources: dict[int, str]

    def _source_refusal(self, peer: Participant) -> str | None:
        """Why ``peer`` may not create a room (None: it may)."""
        source = self._sources.get(peer.conn, "")
        limit = rooms_per_source(self.config)
        if not source or limit <= 0 or self.rooms_held(source) < limit:
            return None
        return too_many_from_source(limit)

    def rooms_held(self, source: str) -> int:
        """Rooms ``source`` created and is still in, or is alone in."""
        keys: set[str] = set()
        for conn, src in self._sources.items():
            member = self._peers.get(conn)
            if src == source and member is not None:
                keys.update(member.rooms)
        keys.discard(LOBBY)
        sources = self._sources
        held = 0
        for key in keys:
            room = self._rooms[key]
            if room.source == source or all(sources.get(c) == source for c in room.members):
                held += 1
        return held
