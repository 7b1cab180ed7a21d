"""The one place where failures become messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from severus_cli.errors import Interrupted, SeverusError


def report(error: SeverusError) -> None:
    """Print ``error`` on stderr, plainly, with no traceback."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text("severus: ", style="bold red") + Text(error.message))


def run_guarded(body: Callable[[], None]) -> None:
    """Run a command body; map SeverusError and Ctrl-C to a message and exit code."""
    try:
        body()
    except KeyboardInterrupt:
        report(Interrupted())
        sys.exit(Interrupted.exit_code)
    except SeverusError as error:
        report(error)
        sys.exit(error.exit_code)
