"""Make text that came from the network safe to put on a terminal.

A peer controls every byte of a message, nick and room name. Control characters
could move the cursor, recolour or clear the screen, set the window title or fake
lines from someone else; bidi and other format characters can reorder or hide
text. Each such character is shown as a visible escape (``\\x1b``, ``\\u202e``)
instead, so a person sees that it was there and nothing takes effect.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

from rich.text import Text

# Zero-width (non-)joiners are format characters, but Persian, Indic scripts and
# emoji sequences need them to render correctly; in message text they cannot
# move or hide anything, so they stay. Nicks escape them (see ``nick_safe``).
_KEPT_FORMAT = frozenset("\u200c\u200d")

# Printable but blank: a nick made of these would look empty or like a space.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d")

# Categories that never reach the terminal raw: controls, format characters,
# lone surrogates (they cannot even be encoded) and Unicode line/paragraph breaks.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

ESCAPE_STYLE = "reverse"
"""How escapes look on a colour terminal, so ``\\x1b`` typed as text is distinguishable."""

TAB_SIZE = 4

_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """The Python-style escape for one character: ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    cp = ord(ch)
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _must_escape(ch: str, *, strict: bool) -> bool:
    if strict:  # names: anything not plainly visible, unassigned and private use too
        return not ch.isprintable() or ch.isspace() or ch in _INVISIBLE
    return unicodedata.category(ch) in _ESCAPED_CATEGORIES and ch not in _KEPT_FORMAT


def _pieces(text: str, *, multiline: bool, strict: bool) -> Iterator[tuple[str, bool]]:
    """Split ``text`` into (segment, is_escape) runs, already made safe."""
    if multiline:
        text = text.replace("\r\n", "\n")
    if text.isprintable() and not strict:
        yield text, False
        return
    run: list[str] = []
    column = 0  # characters since the last kept newline, for tab stops
    for ch in text:
        if ch == "\n" and multiline:
            run.append(ch)
            column = 0
        elif ch == "\t" and not strict:
            width = TAB_SIZE - column % TAB_SIZE if multiline else 1
            run.append(" " * width)
            column += width
        elif _must_escape(ch, strict=strict):
            if run:
                yield "".join(run), False
                run = []
            escaped = escape_char(ch)
            column += len(escaped)
            yield escaped, True
        else:
            run.append(ch)
            column += 1
    if run:
        yield "".join(run), False


def literal(text: str, *, multiline: bool = False) -> str:
    """Return ``text`` with every dangerous character replaced by a visible escape.

    A TAB becomes one space; with ``multiline`` newlines are kept (CRLF counts as
    one newline) and TABs expand to 4-column stops so pasted code keeps its shape.
    """
    return "".join(segment for segment, _ in _pieces(text, multiline=multiline, strict=False))


def literal_text(
    text: str, *, style: str = "", multiline: bool = False, escape_style: str = ESCAPE_STYLE
) -> Text:
    """Like ``literal`` but as a Rich ``Text`` with escapes styled apart from real text."""
    return _as_text(_pieces(text, multiline=multiline, strict=False), style, escape_style)


def nick_safe(name: str) -> str:
    """``literal`` for nicks and room names: also escapes spaces, joiners and blank letters.

    A name is an identity claim, so anything that could make two different names
    look the same (or make one look empty) is spelled out.
    """
    if not name:
        return '""'
    return "".join(segment for segment, _ in _pieces(name, multiline=False, strict=True))


def nick_text(name: str, *, style: str = "", escape_style: str = ESCAPE_STYLE) -> Text:
    """Like ``nick_safe`` but as a styled Rich ``Text``."""
    if not name:
        return Text('""', style=style)
    return _as_text(_pieces(name, multiline=False, strict=True), style, escape_style)


def _as_text(pieces: Iterator[tuple[str, bool]], style: str, escape_style: str) -> Text:
    out = Text(style=style)
    for segment, is_escape in pieces:
        out.append(segment, style=escape_style if is_escape else None)
    return out
