"""Membership the user can see: the host decides who is in a room, so the user must see
every addition before any key of ours goes to the newcomer.

Joins while we are connected are shown as they happen (``joined``). This module covers
the rest: who the host says is in a room it put us (back) in, lobby pages after the
welcome and, after a reconnect, the comparison with who was there before (``#rust after
reconnect: +eve (new), -dan``), so a member slipped in while we were away does not go
unseen. It also says whose sender keys we accept for which room. Pure code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from severus_cli.core.client import events as ev
from severus_cli.core.client.roster import Roster
from severus_cli.core.wire.packets import LOBBY, ROSTER_PAGE

Snapshot = Mapping[str, tuple[str, ...]]
"""Room name (``lobby`` included) -> the nicks in it, as one session last knew them."""


def snapshot(roster: Roster, rooms: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Who is in each of our rooms now, for the next session to compare with."""
    out = {LOBBY: tuple(roster.nicks.values())}
    for folded, name in rooms.items():
        members = roster.rooms.get(folded)
        if members is not None:
            out[name] = tuple(members.values())
    return out


def shares_room(roster: Roster, rooms: Mapping[str, str], nick: str, room: str) -> bool:
    """Whether the roster has ``nick`` and us in ``room``: the only rooms whose keys we
    take from them. A room we were put back in whose members are still on their way
    counts, since keys for it arrive right after a reconnect."""
    folded = room.casefold()
    if roster.key_of(nick) is None:
        return False
    if folded == LOBBY:
        return True
    if folded not in rooms:
        return False
    members = roster.rooms.get(folded)
    return members is None or nick.casefold() in members


def _fold(nicks: Iterable[str], own: str) -> dict[str, str]:
    return {n.casefold(): n for n in nicks if n.casefold() != own.casefold()}


class MembershipLog:
    """What the user has been shown of who is in our rooms, against the last session."""

    def __init__(self, before: Snapshot | None) -> None:
        self._before = {r.casefold(): m for r, m in before.items()} if before else None
        self._names = {r.casefold(): r for r in before} if before else {}
        self._lobby_due = False

    def _known(self) -> dict[str, str]:
        return _fold((self._before or {}).get(LOBBY, ()), "")

    def diff(self, room: str, members: Iterable[str], own: str, now: float) -> ev.Membership:
        """``room``'s members now; after a reconnect, against who was in it before."""
        members = tuple(members)
        current = _fold(members, own)
        if self._before is None:
            return ev.Membership(now, room, members, tuple(current.values()), ())
        was = _fold(self._before.get(room.casefold(), ()), own)
        known = self._known()
        added = tuple(nick for folded, nick in current.items() if folded not in was)
        removed = tuple(nick for folded, nick in was.items() if folded not in current)
        new = tuple(nick for nick in added if nick.casefold() not in known)
        return ev.Membership(now, room, members, added, removed, new, after_reconnect=True)

    def welcome(
        self, page: int, rooms: Iterable[str], roster: Roster, own: str, now: float
    ) -> list[ev.UiEvent]:
        """After a reconnect: the rooms we were not put back in, and the lobby against
        before if its first ``page`` of the roster was the last (else :meth:`settle`)."""
        if self._before is None:
            return []
        back = {r.casefold() for r in rooms}
        out: list[ev.UiEvent] = [
            ev.Notice(now, f"the host did not put you back in #{name}", "warn")
            for folded, name in self._names.items()
            if folded != LOBBY and folded not in back
        ]
        self._lobby_due = True
        return out + (self.settle(roster, own, now) if page < ROSTER_PAGE else [])

    def page(
        self, added: tuple[str, ...], roster: Roster, own: str, now: float
    ) -> list[ev.UiEvent]:
        """More of the lobby (a ``roster`` page); a short page is the last one. A page
        after the lobby was compared with before the reconnect (a host adding members
        late) is shown as it comes, like any page of a first session."""
        if self._before is None or not self._lobby_due:
            members = tuple(roster.nicks.values())
            shown = tuple(n for n in added if n.casefold() != own.casefold())
            return [ev.Membership(now, LOBBY, members, shown, ())] if shown else []
        return self.settle(roster, own, now) if len(added) < ROSTER_PAGE else []

    def settle(self, roster: Roster, own: str, now: float) -> list[ev.UiEvent]:
        """The lobby against before the reconnect, once; call before anything that
        follows the roster pages, and before we say anything."""
        if not self._lobby_due:
            return []
        self._lobby_due = False
        return [self.diff(LOBBY, roster.nicks.values(), own, now)]
