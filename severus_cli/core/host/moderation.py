"""Host moderation, sans-IO: bans by identity key, the invite list, ban durations.

A ban names a key, not a nick, so a banned participant cannot come back under another
nick; it lasts until it expires or the host stops (bans are not written to disk; for
a lasting rule use the invite list). The invite list (``--allow FILE``) lets only the
listed fingerprints register. Both are checked as soon as the hop handshake proves
who is connecting, before any packet of theirs is read.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from severus_cli.core.host.actions import Action
from severus_cli.core.trust.identity import parse_fingerprint
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.wire.packets import valid_nick
from severus_cli.errors import ConfigError, UsageError

MAX_BANS = 4096
RECENT = 64  # nicks remembered after they leave, so "/ban NICK" still finds their key
MAX_DURATION = 10 * 365 * 86400
MAX_ALLOW_FILE = 1 << 20
PERMANENT = frozenset({"permanent", "perm", "forever"})
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:[0-9]{1,9}[smhdw])+")
_PART = re.compile(r"([0-9]+)([smhdw])")


_NUMBERISH = re.compile(r"[+-]?\.?[0-9]")


def looks_like_duration(word: str) -> bool:
    """Whether ``word`` is meant as a duration: a valid one, or anything starting with a
    number or a sign (``5x``, ``-1m``, ``1.5h``), which :func:`parse_duration` then
    refuses. Taking such a typo for the start of the reason would ban for ever."""
    folded = word.casefold()
    return (
        folded in PERMANENT
        or _DURATION.fullmatch(folded) is not None
        or _NUMBERISH.match(folded) is not None
    )


def parse_duration(text: str) -> float | None:
    """Seconds in ``10m``, ``2h``, ``1d``, ``1h30m`` ...; None for ``permanent``."""
    word = text.strip().casefold()
    if word in PERMANENT:
        return None
    if _DURATION.fullmatch(word) is None:
        raise UsageError(f"{text[:40]!r} is not a duration: use e.g. 10m, 2h, 1d or permanent")
    seconds = sum(int(count) * _UNITS[unit] for count, unit in _PART.findall(word))
    if not 0 < seconds <= MAX_DURATION:
        raise UsageError("a ban lasts from 1 second to 10 years (or is permanent)")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """``1d 2h``, ``59m``, ``30s``: the two largest units, rounded up."""
    left = max(1, int(-(-seconds // 1)))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


@dataclass(frozen=True, slots=True)
class Ban:
    key_fp: str  # the banned identity's fingerprint
    nick: str  # the nick it had, for /bans and /unban ("" if unknown)
    until: float | None  # None: until the host stops
    reason: str = ""

    def remaining(self, now: float) -> str:
        if self.until is None:
            return "permanent"
        return format_duration(self.until - now) + " left"


@dataclass(frozen=True, slots=True)
class AdminResult:
    """What a moderation command did: a line for the operator, actions for the loop."""

    ok: bool
    message: str
    actions: tuple[Action, ...] = ()


def parse_target(text: str) -> tuple[str | None, str | None]:
    """``(fingerprint, None)`` or ``(None, nick)``; UsageError for anything else."""
    word = text.strip().removeprefix("@")
    if word.upper().startswith("SHA256:"):
        return parse_fingerprint(word), None
    if not valid_nick(word):
        raise UsageError(f"{word[:40]!r} is neither a nick nor a SHA256: fingerprint")
    return None, word


class Moderation:
    """Bans, the invite list, and the keys of recently seen nicks."""

    def __init__(self, allow: frozenset[str] | None = None) -> None:
        self.allow = allow
        self._bans: dict[str, Ban] = {}  # fingerprint -> ban
        self._recent: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def refusal(self, key: bytes, now: float) -> tuple[str, str] | None:
        """Why ``key`` may not register (error code and message), or None."""
        key_fp = fingerprint(key)
        ban = self.find(key_fp, now)
        if ban is not None:
            why = f": {ban.reason}" if ban.reason else ""
            return "banned", f"you are banned from this host ({ban.remaining(now)}){why}"
        if self.allow is not None and key_fp not in self.allow:
            return "not_invited", "this host is invite-only and your key is not on its list"
        return None

    def find(self, key_fp: str, now: float) -> Ban | None:
        ban = self._bans.get(key_fp)
        if ban is not None and ban.until is not None and ban.until <= now:
            del self._bans[key_fp]
            return None
        return ban

    def add(self, ban: Ban) -> bool:
        """Record ``ban`` (replacing one for the same key); False when the list is full."""
        if ban.key_fp not in self._bans and len(self._bans) >= MAX_BANS:
            return False
        self._bans[ban.key_fp] = ban
        return True

    def remove(self, target: str, now: float) -> Ban | None:
        """Lift the ban on a fingerprint, or on the nick a ban was made under."""
        key_fp, nick = parse_target(target)
        for ban in self.active(now):
            if ban.key_fp == key_fp or (nick and ban.nick.casefold() == nick.casefold()):
                del self._bans[ban.key_fp]
                return ban
        return None

    def active(self, now: float) -> list[Ban]:
        """Bans in force, oldest first; expired ones are forgotten."""
        return [ban for key_fp in list(self._bans) if (ban := self.find(key_fp, now))]

    def remember(self, nick: str, key: bytes) -> None:
        folded = nick.casefold()
        self._recent.pop(folded, None)
        self._recent[folded] = (nick, key)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    def recent(self, nick: str) -> tuple[str, bytes] | None:
        """The nick and key of someone who left a little while ago."""
        return self._recent.get(nick.casefold())


def parse_allow_list(text: str, path: Path) -> frozenset[str]:
    """One fingerprint per line; ``#`` starts a comment, words after it are a label."""
    allowed: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            allowed.add(parse_fingerprint(words[0]))
        except UsageError:
            raise ConfigError(
                f"{path}, line {number}: {words[0][:60]!r} is not a SHA256: fingerprint "
                "(one per line, as `severus fingerprint` shows it; # starts a comment)"
            ) from None
    return frozenset(allowed)


def load_allow_list(path: Path) -> frozenset[str]:
    """Read ``--allow FILE``; ConfigError naming the file for anything unusable."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ALLOW_FILE + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"cannot read the invite list {path}: {reason}") from None
    if len(data) > MAX_ALLOW_FILE:
        raise ConfigError(f"the invite list {path} is larger than 1 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"the invite list {path} is not UTF-8 text") from None
    return parse_allow_list(text, path)
