"""Rich consoles that print exactly what they are given: no markup, no emoji codes,
no highlighting, and colour only on a terminal that did not ask for none.
"""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console


def no_color_requested() -> bool:
    """https://no-color.org: any non-empty NO_COLOR turns colour off."""
    return bool(os.environ.get("NO_COLOR"))


def isatty(file: IO[str]) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def make_console(file: IO[str] | None = None, *, width: int | None = None) -> Console:
    """A Console that never interprets markup, emoji codes or "highlights" numbers.

    Not a terminal (pipe, file): plain lines, no ANSI at all, no re-wrapping, even
    if FORCE_COLOR is set. A terminal: colour unless NO_COLOR is set.
    """
    target = file if file is not None else sys.stdout
    tty = isatty(target)
    return Console(
        file=target,
        force_terminal=tty,
        no_color=no_color_requested(),
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=not tty,
        width=width,
    )
