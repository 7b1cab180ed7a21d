"""Helpers the chat commands share: nick defaults, identity on first use, consoles."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.trust.identity import Identity, load_or_create_identity
from severus_cli.core.wire.packets import valid_nick
from severus_cli.errors import Interrupted, SeverusError, UsageError


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
    """Run an interactive session. Ctrl-C is not a way to succeed: its KeyboardInterrupt
    reaches ``run_guarded``, which exits 130 as the README's table says for every
    command; only ``/quit`` and Ctrl-D end a session with 0."""
    run(coroutine)


def end_if_interrupted(ui: object) -> None:
    """After a chat ended cleanly: if Ctrl-C on an empty prompt ended it, exit 130.

    The terminal is raw while the prompt runs, so that Ctrl-C is a key, not a SIGINT;
    the terminal UI remembers it as ``interrupted``."""
    if getattr(ui, "interrupted", False):
        raise Interrupted()


async def read_tty_line(prompt: str) -> str | None:
    """One line typed on the terminal (stdin), or None at end of input.

    Read from the event loop, not a worker thread: a thread blocked in ``input()``
    outlives Ctrl-C (the interpreter waits for it at exit), so the process would hang
    until Enter and then exit 0. Here Ctrl-C cancels the wait and exits 130 at once.
    """
    sys.stderr.write(prompt)
    sys.stderr.flush()
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    got = bytearray()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        got.extend(chunk)
        if (not chunk or b"\n" in got) and not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    if not got:
        return None
    return got.split(b"\n", 1)[0].decode("utf-8", "replace")


HARD_EXIT_AFTER = 2.0  # seconds a cancelled command may take to wind down after Ctrl-C


def _quiet_known_library_faults(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Python 3.11's TLS shutdown can fail inside asyncio (``SSLProtocol._abort()``
    called with an argument it does not take) when a peer closes a link we are already
    closing, such as a stale relayed session after a suspend. Nothing is lost and the
    user can do nothing about it, so it is not printed over the chat; every other fault
    goes to asyncio's own handler."""
    error = context.get("exception")
    if isinstance(error, TypeError) and "_abort()" in str(error):
        return
    loop.default_exception_handler(context)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the loop :func:`loop_factory` picks: where every command's
    event loop is made.

    Ctrl-C (SIGINT) always ends the command with 130. The first one cancels the main
    task, as asyncio does; but a cancellation can be swallowed on its way out (a
    ``wait_for`` finishing at that very moment turns it into a result or a timeout), and
    then the command would go on, or exit with another code. So the interrupt is
    remembered and wins over whatever the task ends with, and a command still running
    ``HARD_EXIT_AFTER`` seconds later is ended outright (files are written atomically,
    so nothing is left half-written).
    """
    import signal
    import threading

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.get_loop().set_exception_handler(_quiet_known_library_faults)
        in_main = threading.current_thread() is threading.main_thread()
        if not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return runner.run(coroutine)
        loop = runner.get_loop()
        tasks: list[asyncio.Task[T]] = []
        interrupted: list[bool] = []

        async def main() -> T:
            tasks.append(asyncio.current_task())  # type: ignore[arg-type]
            return await coroutine

        def on_sigint(signum: int, frame: object) -> None:
            if interrupted or not tasks:
                raise KeyboardInterrupt
            interrupted.append(True)
            loop.call_soon_threadsafe(tasks[0].cancel)
            loop.call_soon_threadsafe(loop.call_later, HARD_EXIT_AFTER, _hard_exit)

        signal.signal(signal.SIGINT, on_sigint)
        try:
            result = runner.run(main())
        except (asyncio.CancelledError, SeverusError) as error:
            if interrupted:
                raise KeyboardInterrupt from error
            raise
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if interrupted:
            raise KeyboardInterrupt
        return result


def _hard_exit() -> None:
    """Ctrl-C was pressed and the command did not stop: say so and end at once."""
    from severus_cli.commands.errors import report

    report(Interrupted())
    sys.stderr.flush()
    os._exit(Interrupted.exit_code)
