"""A participant's send-only connections, as the others' end-to-end state sees them
(PROTOCOL.md 4.7).

``severus send --nick bob`` beside bob's open chat runs its own pairwise sessions and
sender keys under bob's identity key: the host marks what it sends with ``via`` (1 to
MAX_VIA). The keyring keeps sessions and keys per (key, nick) already, so here each
secondary gets a name of its own for that state, ``bob#2``: ``#`` is in no valid nick,
so it never meets a real one. The roster is not touched (bob is in it once, with the
one key everything is checked against); lines are shown under the nick itself. Pure code.
"""

from __future__ import annotations

from severus_cli.core.wire.packets import MAX_VIA

MARK = "#"


def alias(nick: str, via: int) -> str:
    """The name the keyring keeps a secondary's state under (``nick`` for the holder)."""
    return f"{nick}{MARK}{via}" if via else nick


def split(name: str) -> tuple[str, int]:
    """(nick, via) of a keyring name: relays to ``bob#2`` go to ``bob`` with via 2."""
    nick, mark, via = name.partition(MARK)
    return (nick, int(via)) if mark and via.isdigit() else (name, 0)


def nick_of(name: str) -> str:
    """The nick to show and to look up in the roster."""
    return name.partition(MARK)[0]


def aliases(nick: str) -> list[str]:
    """Every name a secondary of ``nick`` can have: all forgotten when ``nick`` leaves."""
    return [alias(nick, via) for via in range(1, MAX_VIA + 1)]
