"""``/nick``: the participant's side of a nick change (PROTOCOL.md 4.1, ``nick``).

The identity key is what a participant *is*; the nick is only what it is called. So a
rename moves everything bound to the old name to the new one: the roster entry, room
memberships, and the pin in known peers (the new nick is checked against the same
key, as on first sight). End-to-end sessions and sender keys are per (key, nick), so
they start afresh under the new name, on both sides.

While our own rename is on its way, what we say waits: the host stamps messages with
the nick it knows, and one stamped with the new nick but sealed under the old keys
could not be read by anyone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from severus_cli.core.client import events as ev
from severus_cli.core.client.requests import Requests
from severus_cli.core.client.roster import Roster
from severus_cli.core.e2e.keyring import Keyring
from severus_cli.core.wire import packets as p

RENAMES = "nick"  # the capability a host lists in its welcome's caps (p.CAPS)
Later = Callable[[float], list[ev.UiEvent]]


class RenameState:
    """Whether a rename of ours awaits the host, and what was said meanwhile."""

    def __init__(self) -> None:
        self.pending = False
        self.held: list[Later] = []

    def hold(self, action: Later) -> list[ev.UiEvent]:
        self.held.append(action)
        return []

    def release(self, now: float) -> list[ev.UiEvent]:
        self.pending = False
        held, self.held = self.held, []
        return [event for action in held for event in action(now)]


class Renamer(Protocol):
    """What a rename touches of the participant's state (the client core has it all)."""

    nick: str
    key: bytes
    host_nick: str
    host_caps: tuple[str, ...]
    renaming: RenameState
    requests: Requests
    roster: Roster
    keyring: Keyring
    check_peer: Callable[[str, bytes], str | None]


def ask_rename(core: Renamer, nick: str, now: float) -> list[ev.UiEvent]:
    """Ask the host for ``nick``; refusals that need no round trip are said at once."""
    nick = nick.removeprefix("@")
    if not p.valid_nick(nick):
        return [ev.Notice(now, "nicks are 1-32 of letters, digits, _ . -", "error")]
    if nick == core.nick:
        return [ev.Notice(now, f"you are already {nick}", "info")]
    if RENAMES not in core.host_caps:
        return [
            ev.Notice(
                now,
                f"this host's version cannot change nicks; /quit and join again with --nick {nick}",
                "error",
            )
        ]
    if core.renaming.pending:
        return [ev.Notice(now, "a nick change is already on its way", "error")]
    core.renaming.pending = True
    core.requests.ask(p.Nick(core.requests.new_id(), nick), "nick", now, nick)
    return []


def refused(core: Renamer, now: float) -> list[ev.UiEvent]:
    """The host refused our rename: what was said meanwhile goes out under the old nick."""
    return core.renaming.release(now)


def on_renamed(core: Renamer, packet: p.Renamed, now: float) -> list[ev.UiEvent]:
    old, new = packet.old, packet.new
    if old.casefold() == core.nick.casefold():
        core.nick = new
        _move(core, old, new, core.key)
        core.keyring.renamed_self(new)
        return [ev.Renamed(now, old, new, own=True), *core.renaming.release(now)]
    key = core.roster.key_of(old)
    if key is None:  # a name we never heard of: nothing to follow
        return []
    _move(core, old, new, key)
    if core.host_nick == old:
        core.host_nick = new
    core.keyring.peer_left(key, old)
    core.keyring.peer_joined(new, key)
    warning = core.check_peer(new, key)  # the pin follows the key to the new nick
    shown: list[ev.UiEvent] = [ev.Renamed(now, old, new)]
    return [*shown, ev.Notice(now, warning, "warn")] if warning else shown


def _move(core: Renamer, old: str, new: str, key: bytes) -> None:
    """The roster entry and room memberships of ``old`` become ``new``'s."""
    _, rooms = core.roster.remove(old)
    core.roster.add(new, key)
    for room in rooms:
        core.roster.joined_room(room, new)
