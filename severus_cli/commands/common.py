"""Helpers the chat commands share: nick defaults, identity on first use, consoles."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

from severus_cli.core.config import resolve_config_dir
from severus_cli.core.identity import Identity, load_or_create_identity
from severus_cli.core.packets import valid_nick
from severus_cli.errors import UsageError


def console(stderr: bool = False) -> Console:
    from severus_cli.ui.render import make_console

    return make_console(sys.stderr if stderr else sys.stdout)


def nick_or_login(nick: str | None) -> str:
    """The nick given, or the login name cut to what nicks allow."""
    if nick is None:
        try:
            guess = re.sub(r"[^A-Za-z0-9_.\-]", "", getpass.getuser())[:32]
        except (KeyError, OSError):
            guess = ""
        nick = guess or "anon"
    if not valid_nick(nick):
        raise UsageError(f"invalid nick {nick!r}: use 1-32 of letters, digits, _ . -")
    return nick


def identity_in(config_dir: Path | None) -> tuple[Path, Identity]:
    """Load the identity, creating it (and saying so) on first use."""
    directory = resolve_config_dir(config_dir)
    identity, created = load_or_create_identity(directory)
    if created:
        console(stderr=True).print(
            Text(f"Created a new identity in {directory} ({identity.fingerprint})", style="dim")
        )
    return directory, identity


LOOP_ENV = "SEVERUS_LOOP"
T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop the commands run on: uvloop's when $SEVERUS_LOOP is "uvloop" and
    it is installed; None (asyncio's own) otherwise."""
    if os.environ.get(LOOP_ENV, "").lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_session(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run an interactive session; Ctrl-C simply ends it."""
    with contextlib.suppress(KeyboardInterrupt):
        run(coroutine)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks: where every command's
    event loop is made."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coroutine)
