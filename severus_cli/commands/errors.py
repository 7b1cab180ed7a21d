"""The one place where failures become messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable

from severus_cli.errors import Interrupted, SeverusError


def report(error: SeverusError) -> None:
    """Print ``error`` on stderr, plainly, with no traceback.

    Messages can quote a peer (a host's reason for refusing us), so control characters
    and bidi overrides are shown as escapes, never sent to the terminal.
    """
    from rich.console import Console
    from rich.text import Text

    from severus_cli.ui.sanitize import literal_text

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text("severus: ", style="bold red") + literal_text(error.message, multiline=True))


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
