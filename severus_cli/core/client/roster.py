"""Who is connected, with which identity key, and who is in each of our rooms."""

from __future__ import annotations

from severus_cli.core.wire.packets import LOBBY


class Roster:
    def __init__(self) -> None:
        self.nicks: dict[str, str] = {}  # casefolded -> nick, everyone connected
        self.keys: dict[str, bytes] = {}  # casefolded nick -> identity key
        self.rooms: dict[str, dict[str, str]] = {}  # our rooms (casefolded) -> members

    def reset(self, users: tuple[tuple[str, bytes], ...]) -> None:
        self.nicks = {nick.casefold(): nick for nick, _ in users}
        self.keys = {nick.casefold(): key for nick, key in users}
        self.rooms = {}

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
        return key, rooms

    def key_of(self, nick: str) -> bytes | None:
        return self.keys.get(nick.casefold())

    def name_of(self, nick: str) -> str:
        return self.nicks.get(nick.casefold(), nick)

    def members(self, room: str) -> list[tuple[str, bytes]]:
        """(nick, key) of everyone in ``room`` (everyone, for the lobby)."""
        folded = room.casefold()
        names = self.nicks if folded == LOBBY else self.rooms.get(folded, {})
        return [(nick, self.keys[f]) for f, nick in names.items() if f in self.keys]

    def enter(self, room: str, members: tuple[str, ...]) -> None:
        self.rooms[room.casefold()] = {m.casefold(): m for m in members}

    def leave(self, room: str) -> None:
        self.rooms.pop(room.casefold(), None)

    def joined_room(self, room: str, nick: str) -> bool:
        """``nick`` entered ``room``; True if it is one of ours (its key must change)."""
        members = self.rooms.get(room.casefold())
        if members is None:
            return room.casefold() == LOBBY
        members[nick.casefold()] = nick
        return True

    def left_room(self, room: str, nick: str) -> bool:
        members = self.rooms.get(room.casefold())
        if members is None:
            return room.casefold() == LOBBY
        members.pop(nick.casefold(), None)
        return True
