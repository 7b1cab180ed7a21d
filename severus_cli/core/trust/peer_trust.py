"""Which participants' keys we encrypt to: pure decisions and the words shown for them.

The host hands out every participant's identity key, so a malicious host can hand out
its own key under a friend's nick and read whatever is encrypted to it. Like a host
key, a nick's key is pinned per host on first sight (in ``known_peers.json``); a
*different* key later keeps the old pin and puts the nick in **conflict**: nothing is
encrypted to the new key (no private message, no room sender key) and nothing it says
is shown, until the user accepts it (``/accept NICK`` or ``severus trust accept-peer``).
The conflict is announced loudly in every session, because the pin is never replaced
silently.

:class:`PeerGuard` is the session's view, sans-IO: the client core asks it about every
(nick, key) it meets and before it encrypts anything. The store behind it
(:class:`~severus_cli.core.trust.known_peers.KnownPeers`) only remembers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from severus_cli.core.trust.identity_format import fingerprint

# How many (nick, key) warnings and (nick, room) notices a session remembers having
# shown: a host can make up keys and rooms without end, so the oldest are forgotten
# (at worst a warning is shown again).
MAX_REMEMBERED = 1024


class Remembered:
    """A set of pairs that forgets its oldest past ``limit``, so it stays bounded."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._items: dict[tuple[str, str], None] = {}  # insertion order: oldest first

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: tuple[str, str]) -> None:
        self._items.pop(item, None)
        self._items[item] = None
        while len(self._items) > self.limit:
            del self._items[next(iter(self._items))]

    def forget_nick(self, folded: str) -> None:
        """Forget every pair whose first member is ``folded``."""
        self._items = {item: None for item in self._items if item[0] != folded}


class PeerVerdict(enum.Enum):
    NEW = "new"  # never seen on this host: pin it
    SAME = "same"  # the pinned key
    CHANGED = "changed"  # another key than the pin: keep the pin, block the new key


def judge_peer(pinned: str | None, key_fp: str) -> PeerVerdict:
    """What a presented key means against the pin for that nick on that host."""
    if pinned is None:
        return PeerVerdict.NEW
    return PeerVerdict.SAME if pinned == key_fp else PeerVerdict.CHANGED


class PeerStore(Protocol):
    """What the guard needs from known_peers."""

    def check(self, nick: str, key: bytes) -> tuple[PeerVerdict, str | None]:
        """Judge ``key`` for ``nick`` and remember it: (verdict, the pinned fingerprint)."""
        ...

    def accept(self, nick: str, key_fp: str) -> None:
        """Replace the pin for ``nick`` with ``key_fp`` (the user said so)."""
        ...


@dataclass(frozen=True, slots=True)
class Conflict:
    """``nick`` came with ``presented`` although ``pinned`` is the key trusted for it."""

    nick: str
    pinned: str
    presented: str
    key: bytes  # the presented identity key, compared on every send
    source: str = "pin"  # "pin" (known_peers), "--peer" (command line) or "self" (our nick)


def host_argument(label: str) -> str:
    """How to name a known_peers host on the command line (tickets pin by key)."""
    return label.removeprefix("key ")


def accept_hint(nick: str, label: str) -> str:
    return (
        f"/verify {nick} and compare the code with {nick} out of band; only then "
        f"/accept {nick} (or: severus trust accept-peer {host_argument(label)} {nick})"
    )


def changed_peer_message(conflict: Conflict, label: str) -> str:
    """The loud warning, shown in every session until the new key is accepted."""
    nick = conflict.nick
    if conflict.source == "self":
        return (
            f"@@@ WARNING: the host lists your own nick {nick} with another key, "
            f"{conflict.presented} (yours is {conflict.pinned}). It may be trying to read "
            "what you send: nothing is encrypted to that key. @@@"
        )
    pinned = "given with --peer" if conflict.source == "--peer" else "pinned"
    return "\n".join(
        [
            f"@@@ WARNING: {nick.upper()}'S IDENTITY KEY HAS CHANGED! @@@",
            f"The key {pinned} for {nick} on this host is {conflict.pinned};",
            f"the host now gives {conflict.presented}.",
            "The host may be posing as them to read what you send. Nothing is encrypted "
            "to the new key and nothing it says is shown until you accept it: "
            + accept_hint(nick, label),
        ]
    )


def whois_mismatch(nick: str, used: bytes, claimed: bytes) -> str:
    """The host's /whois names another key for ``nick`` than its roster did: the one
    shown is the roster's, which is what we encrypt to; say that the host disagrees."""
    return (
        f"the host's /whois reply gives {nick} the key {fingerprint(claimed)}, but the "
        f"key it gave for {nick}, which is what messages to {nick} are encrypted to, is "
        f"{fingerprint(used)}: compare that one (/verify {nick})"
    )


def blocked_notice(nick: str) -> str:
    return (
        f"not encrypted to {nick}: their key changed and is not accepted "
        f"(/verify {nick}, then /accept {nick})"
    )


def dropped_notice(nick: str) -> str:
    return (
        f"a message from {nick} was not shown: it came from a changed key you have not "
        f"accepted (/verify {nick}, then /accept {nick})"
    )


class PeerGuard:
    """One session's decisions about peer keys, over a store that remembers pins.

    ``expected`` maps casefolded nicks to fingerprints given up front (``--peer``): for
    those nicks that key alone is trusted, whatever the store says, and the store is
    neither consulted nor changed for them. A script asserts who it writes to, as ssh
    with ``StrictHostKeyChecking=yes`` does, and a pin changes only by an acceptance
    (``severus trust accept-peer``), never as a side effect of a send.
    """

    def __init__(
        self, store: PeerStore | None, label: str, expected: Mapping[str, str] | None = None
    ) -> None:
        self._store = store
        self.label = label
        self._expected = {nick.casefold(): fp for nick, fp in (expected or {}).items()}
        self.conflicts: dict[str, Conflict] = {}  # casefolded nick -> the unaccepted key
        self.skipped: dict[str, Conflict] = {}  # conflicts a message of ours went without
        self._warned = Remembered()  # (nick, key) warned about this session
        self._told = Remembered()  # (nick, room) told "not encrypted to"
        self.verified: dict[str, bytes] = {}  # casefolded nick -> key its last /verify showed
        self.own_nick: Callable[[], str] = lambda: ""  # set by the client core
        self.own_key = b""

    def check(self, nick: str, key: bytes) -> str | None:
        """A participant appeared with ``key``: a warning to show, or None."""
        folded, key_fp = nick.casefold(), fingerprint(key)
        expected = self._expected.get(folded)
        if folded == self.own_nick().casefold() and key != self.own_key:
            # We are connected under this nick with our key: any other key is a lie.
            conflict = Conflict(nick, fingerprint(self.own_key), key_fp, key, "self")
        elif expected is not None:
            if expected == key_fp:  # an assertion for this run: known_peers is left alone
                self.conflicts.pop(folded, None)
                return None
            conflict = Conflict(nick, expected, key_fp, key, "--peer")
        else:
            verdict, pinned = (
                self._store.check(nick, key) if self._store else (PeerVerdict.NEW, None)
            )
            if verdict is not PeerVerdict.CHANGED or pinned is None:
                self.conflicts.pop(folded, None)
                return None
            conflict = Conflict(nick, pinned, key_fp, key)
        self.conflicts[folded] = conflict
        if (folded, key_fp) in self._warned:
            return None
        self._warned.add((folded, key_fp))
        return changed_peer_message(conflict, self.label)

    def blocked(self, nick: str, key: bytes) -> bool:
        """True while ``key`` is an unaccepted replacement for ``nick``'s pinned key."""
        if not self.conflicts:
            return False
        conflict = self.conflicts.get(nick.casefold())
        return conflict is not None and conflict.key == key

    def recipients(
        self, room: str, members: list[tuple[str, bytes]]
    ) -> tuple[list[tuple[str, bytes]], list[str]]:
        """The members a room message may be encrypted to, and notices for the rest
        (each nick once per room and session)."""
        if not self.conflicts:
            return members, []
        allowed: list[tuple[str, bytes]] = []
        notices: list[str] = []
        for nick, key in members:
            if not self.blocked(nick, key):
                allowed.append((nick, key))
                continue
            folded = nick.casefold()
            self.skipped[folded] = self.conflicts[folded]
            if (folded, room.casefold()) not in self._told:
                self._told.add((folded, room.casefold()))
                notices.append(blocked_notice(nick))
        return allowed, notices

    def accept(self, nick: str, key: bytes) -> tuple[bool, str]:
        """The user accepted ``nick``'s current ``key``: (changed anything, what to say)."""
        folded, key_fp = nick.casefold(), fingerprint(key)
        conflict = self.conflicts.get(folded)
        if conflict is None or conflict.key != key:
            return False, f"{nick}'s key {key_fp} is already the trusted one here"
        if conflict.source == "self":
            return False, f"{nick} is you: a key the host made up for you is never accepted"
        shown = self.verified.get(folded)
        if shown is None:  # the code was never compared: nothing says this key is bob's
            return False, (
                f"not accepted: first /verify {nick} and compare the code with {nick} "
                f"out of band; then /accept {nick}"
            )
        if shown != key:
            # The host swapped the key again while the user compared codes: the code
            # compared was for another key than the one /accept would now pin.
            return False, (
                f"not accepted: {nick}'s key is now {key_fp}, not the "
                f"{fingerprint(shown)} your /verify {nick} showed; /verify {nick} again"
            )
        if self._store is not None:
            self._store.accept(nick, key_fp)
        self._expected.pop(folded, None)
        del self.conflicts[folded]
        self.skipped.pop(folded, None)
        self._told.forget_nick(folded)
        return True, f"accepted {nick}'s new key {key_fp} (it replaces {conflict.pinned})"


def send_refusal(conflicts: list[Conflict], label: str, delivered: int | None = None) -> str:
    """Why ``severus send`` exits 4: each nick with both fingerprints, and the way out."""
    lines = []
    for c in conflicts:
        was = "given with --peer" if c.source == "--peer" else "pinned"
        lines.append(
            f"{c.nick}'s identity key has changed: {was} {c.pinned}, the host gives "
            f"{c.presented}; nothing was encrypted to {c.nick}."
        )
    if delivered is not None:
        lines.append(f"{delivered} message(s) were delivered to the others.")
    first = conflicts[0].nick
    lines.append(
        f"If {first} really has a new key (compare /verify {first} in a chat), accept it: "
        f"severus trust accept-peer {host_argument(label)} {first} SHA256:..., or pass "
        f"--peer {first}=SHA256:..."
    )
    return "\n".join(lines)
