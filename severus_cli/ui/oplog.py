"""Operator log lines (``host --no-chat``, ``relay``): who comes and goes, never content.

One write per line instead of a Rich render: a busy host logs every join, leave and
close, and Rich's ``print`` costs tens of microseconds a line (it measures the
terminal and renders segments each time), a noticeable share of what a connect costs.
Text from the network is escaped by :func:`literal` as everywhere else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

from severus_cli.ui.console import isatty, no_color_requested
from severus_cli.ui.sanitize import literal

DIM, RESET = "\x1b[2m", "\x1b[0m"


class LogLines:
    """Writes ``stamp() + " " + text`` lines to ``file``; dim on a colour terminal."""

    def __init__(
        self, stamp: Callable[[], str], file: IO[str] | None = None, *, dim: bool = False
    ) -> None:
        self._stamp = stamp
        self._file = file if file is not None else sys.stdout
        styled = dim and isatty(self._file) and not no_color_requested()
        self._start, self._end = (DIM, RESET) if styled else ("", "")

    def __call__(self, text: str) -> None:
        self._file.write(f"{self._start}{self._stamp()} {literal(text)}{self._end}\n")
        self._file.flush()
