"""Soft wrapping with a hanging indent, for lines wider than the terminal.

A terminal wraps a long line back to its first column, which breaks the columns of a
table such as /help on an 80-column screen. Here the rows after the first start under
the line's last column (the text after a run of two or more spaces), or else under the
text after the time and arrow, so a table stays a table. Pure: the width comes in.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.text import Text

MAX_INDENT = 32  # as multi-line messages: past this, too little room is left
_COLUMN = re.compile(r"\S {2,}(?=\S)")  # a table's column starts after such a gap
_LEAD = re.compile(r"^\S+ (?:-> | \* |\*\* )?")  # "12:00 -> ": where the text starts


def hanging(text: Text, width: int) -> Text:
    """``text`` cut into rows of at most ``width`` cells, continuation rows indented."""
    lines = text.split("\n", allow_blank=True)
    return Text("\n").join(_hang(line, width) for line in lines)


def _hang(line: Text, width: int) -> Text:
    plain = line.plain
    if cell_len(plain) <= width:
        return line
    indent = _indent(plain, width)
    cuts: list[int] = []
    start, room = 0, width
    while cell_len(plain[start:]) > room:
        cut = _cut(plain, start, room)
        if cut is None:  # a word longer than the row (a ticket): as the terminal does
            break
        end, start = cut
        cuts += [end, start]
        room = width - indent
    pieces = line.divide(cuts)
    rows = [pieces[0]] + [pieces[i] for i in range(2, len(pieces), 2)]
    for row in rows:
        row.rstrip()  # the spaces at a break (in place)
    pad, room = " " * indent, width - indent
    # A row too long for the room anyway (a ticket) starts at the left, whole on a wide
    # enough screen and easy to select.
    rest = [Text(pad) + row if cell_len(row.plain) <= room else row for row in rows[1:]]
    return Text("\n").join([rows[0], *rest])


def _indent(plain: str, width: int) -> int:
    """Where continuation rows start: the last column of the first row, or the text."""
    columns = [m.end() for m in _COLUMN.finditer(plain[:width])]
    lead = _LEAD.match(plain)
    at = columns[-1] if columns else (lead.end() if lead else 0)
    return min(cell_len(plain[:at]), MAX_INDENT, width // 2)


def _cut(plain: str, start: int, room: int) -> tuple[int, int] | None:
    """(end of this row, start of the next) at the last space that fits; None when the
    row would have to end inside a word, which is then left whole (a ticket, a key)."""
    end, used = start, 0
    while end < len(plain) and used + cell_len(plain[end]) <= room:
        used += cell_len(plain[end])
        end += 1
    if end < len(plain) and plain[end] != " ":
        space = plain.rfind(" ", start, end)
        if space <= start:
            return None
        end = space
    after = end
    while after < len(plain) and plain[after] == " ":
        after += 1
    return end, after


def fit(line: str, width: int) -> str:
    """``line`` cut in the middle to at most ``width`` cells ("…" marks the cut), so a
    status line keeps its start (the cause) and its end (countdown, how to stop) on a
    narrow terminal instead of losing the end off the edge."""
    if cell_len(line) <= width:
        return line
    if width <= 1:
        return "…"[: max(width, 0)]
    head = _take(line, (width - 1) // 3)
    tail = _take(line[::-1], width - 1 - cell_len(head))[::-1]
    return f"{head}…{tail}"


def _take(text: str, room: int) -> str:
    """The longest start of ``text`` that fits in ``room`` cells."""
    used = 0
    for at, char in enumerate(text):
        used += cell_len(char)
        if used > room:
            return text[:at]
    return text
