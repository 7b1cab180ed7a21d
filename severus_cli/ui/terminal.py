"""Front ends: an interactive terminal, plain line I/O, and JSON lines for bots.

All three share one shape (``ChatUI``) so the client runner does not care which it
got: it iterates ``read_lines()`` for what the user typed and calls
``show_event()`` for what happened. ``make_ui`` picks the right one; the pipe and
JSON ones live in :mod:`~severus_cli.ui.plain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractContextManager
from typing import IO, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app_or_none
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input.vt100 import Vt100Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from prompt_toolkit.shortcuts import clear as clear_screen
from prompt_toolkit.shortcuts import print_formatted_text
from rich.console import Console
from rich.text import Text

from severus_cli.core.client.events import LOBBY, Level, Notice, RoomChanged, UiEvent, Welcome
from severus_cli.ui.completion import ChatCompleter
from severus_cli.ui.console import no_color_requested
from severus_cli.ui.plain import JsonUI, PlainUI, StatusText
from severus_cli.ui.render import is_alert, render, unseen
from severus_cli.ui.sanitize import literal
from severus_cli.ui.wrap import fit, hanging

NickSource = Callable[[], Iterable[str]]
STATUS_REFRESH = 1.0  # seconds between redraws of a status line, so a countdown moves


class ChatUI(Protocol):
    """What the client runner needs from any front end."""

    current_room: str

    def read_lines(self) -> AsyncIterator[str]:
        """Lines the user typed, until EOF, Ctrl-D, Ctrl-C or ``close()``."""
        ...

    def show(self, text: Text) -> None:
        """Print one (already rendered) line."""
        ...

    def show_event(self, event: UiEvent) -> None:
        """Render and print ``event``; ring the bell when it is for us."""
        ...

    def status(self, text: StatusText | None, level: Level = "info") -> None:
        """A state that lasts (reconnecting): one line updated in place on a terminal,
        a line per call elsewhere. None takes it away."""
        ...

    def bell(self) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None:
        """Stop reading input; ``read_lines`` ends."""
        ...


class TerminalUI:
    """irssi-style: output scrolls above an input line that is never garbled.

    Lines are rendered by Rich to ANSI at the terminal's current width and
    printed through prompt_toolkit, which lifts the prompt, prints, and redraws
    the prompt with whatever the user had half-typed.
    """

    def __init__(
        self,
        own_nick: Callable[[], str],
        nicks: NickSource,
        prompt: Callable[[], str],
        *,
        rooms: NickSource | None = None,
        bell_on_alert: bool = True,
    ) -> None:
        self.current_room = LOBBY
        self.bell_on_alert = bell_on_alert
        self._own_nick = own_nick
        self._prompt = prompt
        self._closed = False
        self.interrupted = False  # Ctrl-C on an empty prompt: the command then exits 130
        self._pending: list[str] = []
        self._flush_scheduled = False
        self._status: StatusText | None = None
        self._status_ticker: asyncio.Task[None] | None = None
        self._input = _StayRawInput(sys.stdin)
        self._raw = self._input.raw_mode()  # remembers the mode to give back
        self._session: PromptSession[str] = PromptSession(
            input=self._input,
            history=InMemoryHistory(),
            completer=ChatCompleter(nicks, rooms),
            complete_while_typing=False,
            erase_when_done=True,  # the core echoes what we said, rendered
            key_bindings=_key_bindings(),
        )
        self._console = Console(
            file=io.StringIO(),
            force_terminal=True,
            color_system="256",
            no_color=no_color_requested(),
            highlight=False,
            markup=False,
            emoji=False,
        )

    @property
    def _output(self) -> Output:
        return self._session.output

    async def read_lines(self) -> AsyncIterator[str]:
        """Prompt until Ctrl-D, Ctrl-C on an empty line, or ``close()``.

        The terminal stays raw from the first prompt to the last, not just while each
        prompt runs: a key typed right after Enter, before the next prompt is up, must
        reach that prompt (see ``_StayRawInput``).
        """
        self._raw.__enter__()
        try:
            while not self._closed:
                try:
                    line = await self._session.prompt_async(self._message)
                except EOFError:
                    return
                except KeyboardInterrupt:
                    self.interrupted = True
                    return
                yield line
        finally:
            self._restore_terminal()

    def _restore_terminal(self) -> None:
        """Give the terminal back in the mode it had when this UI was made; safe to repeat.

        Called when reading ends, and by ``close()``: a consumer that stops iterating
        leaves this generator suspended (raw) until it is collected, and the user's
        shell must not inherit a raw terminal if that happens late.
        """
        self._raw.__exit__(None, None, None)

    def _message(self) -> str:
        return literal(self._prompt())

    def show(self, text: Text) -> None:
        """Print ``text`` above the prompt; lines shown in one loop turn print together."""
        self._console.width = self._width()
        with self._console.capture() as capture:
            self._console.print(text)
        self._pending.append(capture.get())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _width(self) -> int:
        return max(self._output.get_size().columns, 20)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._pending:
            return
        data = "".join(self._pending)
        self._pending.clear()
        print_formatted_text(ANSI(data), end="", output=self._output)

    def show_event(self, event: UiEvent) -> None:
        own = self._own_nick()
        if unseen(event):
            return
        if isinstance(event, RoomChanged):
            self.current_room = event.room
        elif isinstance(event, Welcome):
            self.current_room = LOBBY
        line = render(event, own_nick=own, current_room=self.current_room)
        if isinstance(event, Notice):  # help, usage: columns that stay columns when wrapped
            line = hanging(line, self._width())
        self.show(line)
        if self.bell_on_alert and is_alert(event, own):
            self.bell()

    def status(self, text: StatusText | None, level: Level = "info") -> None:
        """Show ``text`` on a line of its own below the prompt, in place of the one
        before: a reconnect that goes on for minutes takes one line, not one per attempt.
        It is asked again at every redraw, and each second, so it may count down."""
        self._status = text
        self._session.bottom_toolbar = self._status_line if text is not None else None
        if text is None and self._status_ticker is not None:
            self._status_ticker.cancel()
            self._status_ticker = None
        elif text is not None and self._status_ticker is None:
            with contextlib.suppress(RuntimeError):  # no loop: shown at the next prompt
                self._status_ticker = asyncio.get_running_loop().create_task(self._tick())
        self._redraw()

    def _status_line(self) -> str:
        if self._status is None:
            return ""
        return fit(literal(self._status()), self._output.get_size().columns - 1)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(STATUS_REFRESH)
            self._redraw()

    def _redraw(self) -> None:
        app = self._session.app
        if app.is_running:
            app.invalidate()

    def bell(self) -> None:
        """BEL: the terminal beeps, flashes or marks the tab, as the user configured it."""
        self._output.bell()

    def clear(self) -> None:
        app = get_app_or_none()
        if app is not None and app.is_running:
            app.renderer.clear()
            app.invalidate()
        else:
            clear_screen()

    def close(self) -> None:
        self._closed = True
        if self._status_ticker is not None:
            self._status_ticker.cancel()
            self._status_ticker = None
        self._flush()
        app = self._session.app
        if app.is_running and not app.is_done:
            with contextlib.suppress(Exception):
                app.exit(exception=EOFError())
        else:  # between two prompts: nobody may resume the reader to restore the mode
            self._restore_terminal()


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        """Ctrl-C drops a half-typed line first (as in a shell); on an empty line, quit."""
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt())

    return bindings


class _StayRawInput(Vt100Input):
    """Terminal input that never goes back to cooked mode while we prompt.

    prompt_toolkit prints above a running prompt through ``run_in_terminal``, which
    makes the terminal cooked for the print, and each prompt restores cooked mode when
    it ends. A key that arrives in such a window goes through the kernel's line
    discipline instead of reaching us: Ctrl-D becomes a NUL byte (read as Ctrl-@, so
    the user has to press it again), Ctrl-C raises SIGINT, Ctrl-U and Ctrl-W erase keys
    typed ahead, and letters are echoed over the screen. With ten lines a second coming
    in, 7 Ctrl-D in 300 were lost that way (44 in 300 at a hundred lines a second). We
    only ever print in that window, which needs no cooked mode; bytes that arrive while
    the input is detached for the print wait in the kernel, raw, until it is back.
    """

    def cooked_mode(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


def _isatty(stream: IO[str] | IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def make_ui(
    json_mode: bool,
    *,
    own_nick: Callable[[], str],
    nicks: NickSource,
    prompt: Callable[[], str],
    rooms: NickSource | None = None,
    bell_on_alert: bool = True,
) -> ChatUI:
    """JSON if asked; the interactive terminal when stdin and stdout are both TTYs;
    otherwise plain lines, so ``severus ... < script | grep`` just works."""
    if json_mode:
        return JsonUI(own_nick)
    if _isatty(sys.stdin) and _isatty(sys.stdout):
        return TerminalUI(own_nick, nicks, prompt, rooms=rooms, bell_on_alert=bell_on_alert)
    return PlainUI(own_nick)
