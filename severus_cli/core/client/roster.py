"""Who is connected, with which identity key, and who is in each of our rooms.

A member the host showed only as ``quiet`` (a send-only connection, PROTOCOL.md 4.7: no
line on screens, and it reads nothing) is *unseen* where it arrived that way, and
:meth:`Roster.members` leaves it out: no key of ours goes to a member the user was never
shown, so a host cannot slip a reader into a room by calling it send-only.

The host decides who is connected, so a hostile one could announce made-up nicks without
end: the roster holds at most ``MAX_ROSTER`` participants (the ceiling of a host's
``--max-clients``), and each of our rooms as many members. Past that, newcomers are
refused, never members already known.
"""

from __future__ import annotations

from severus_cli.core.wire.packets import LOBBY

MAX_ROSTER = 4096  # participants a client keeps track of: a host's --max-clients at most


class Roster:
    def __init__(self) -> None:
        self.nicks: dict[str, str] = {}  # casefolded -> nick, everyone connected
        self.keys: dict[str, bytes] = {}  # casefolded nick -> identity key
        self.rooms: dict[str, dict[str, str]] = {}  # our rooms (casefolded) -> members
        self.unseen: set[tuple[str, str]] = set()  # (nick, room), casefolded: only quiet

    def reset(self, users: tuple[tuple[str, bytes], ...]) -> None:
        self.nicks = {nick.casefold(): nick for nick, _ in users}
        self.keys = {nick.casefold(): key for nick, key in users}
        self.rooms = {}
        self.unseen = set()

    def full(self, nick: str, room: str = LOBBY) -> bool:
        """Whether ``nick`` would be one too many in ``room`` (the lobby: the roster)."""
        folded, where = nick.casefold(), room.casefold()
        names = self.keys if where == LOBBY else self.rooms.get(where)
        return names is not None and folded not in names and len(names) >= MAX_ROSTER

    def add(self, nick: str, key: bytes) -> bytes | None:
        """Someone connected; returns the key they had before under this nick, if any."""
        folded = nick.casefold()
        previous = self.keys.get(folded)
        self.nicks[folded] = nick
        self.keys[folded] = key
        return previous if previous != key else None

    def remove(self, nick: str) -> tuple[bytes | None, list[str]]:
        """Someone disconnected: their key and the rooms of ours they were in."""
        folded = nick.casefold()
        self.nicks.pop(folded, None)
        key = self.keys.pop(folded, None)
        rooms = [room for room, members in self.rooms.items() if members.pop(folded, None)]
        self.unseen = {pair for pair in self.unseen if pair[0] != folded}
        return key, rooms

    def key_of(self, nick: str) -> bytes | None:
        return self.keys.get(nick.casefold())

    def name_of(self, nick: str) -> str:
        return self.nicks.get(nick.casefold(), nick)

    def members(self, room: str) -> list[tuple[str, bytes]]:
        """(nick, key) of everyone in ``room`` (everyone, for the lobby)."""
        folded = room.casefold()
        names = self.nicks if folded == LOBBY else self.rooms.get(folded, {})
        hidden = {nick for nick, room in self.unseen if room == folded}
        return [(n, self.keys[f]) for f, n in names.items() if f in self.keys and f not in hidden]

    def present(self, room: str, nick: str) -> bool:
        """Whether ``nick`` is in ``room`` (connected, for the lobby) as far as we know."""
        folded = nick.casefold()
        if room.casefold() == LOBBY:
            return folded in self.keys
        return folded in self.rooms.get(room.casefold(), {})

    def arrived(self, room: str, nick: str, quiet: bool, was_there: bool) -> None:
        """``nick`` joined ``room``: shown, it is seen there; only ``quiet`` (no line on
        screen) and not there before, it is unseen until shown (left out of members)."""
        pair = (nick.casefold(), room.casefold())
        if not quiet:
            self.unseen.discard(pair)
        elif not was_there and (pair[1] == LOBBY or pair[1] in self.rooms):
            self.unseen.add(pair)

    def enter(self, room: str, members: tuple[str, ...]) -> None:
        """Who is in ``room``, as listed to the user (so none of them is unseen)."""
        folded = room.casefold()
        self.rooms[folded] = {m.casefold(): m for m in members}
        self.unseen = {pair for pair in self.unseen if pair[1] != folded}

    def leave(self, room: str) -> None:
        folded = room.casefold()
        self.rooms.pop(folded, None)
        self.unseen = {pair for pair in self.unseen if pair[1] != folded}

    def joined_room(self, room: str, nick: str) -> bool:
        """``nick`` entered ``room``; True if it is one of ours (its key must change)."""
        members = self.rooms.get(room.casefold())
        if members is None:
            return room.casefold() == LOBBY
        if not self.full(nick, room):
            members[nick.casefold()] = nick
        return True

    def left_room(self, room: str, nick: str) -> bool:
        members = self.rooms.get(room.casefold())
        self.unseen.discard((nick.casefold(), room.casefold()))
        if members is None:
            return room.casefold() == LOBBY
        members.pop(nick.casefold(), None)
        return True
