"""Front ends: an interactive terminal, plain line I/O, and JSON lines for bots.

All three share one shape (``ChatUI``) so the client runner does not care which it
got: it iterates ``read_lines()`` for what the user typed and calls
``show_event()`` for what happened. ``make_ui`` picks the right one.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
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

from severus_cli.core.client.events import LOBBY, RoomChanged, UiEvent, Welcome
from severus_cli.ui.input import ChatCompleter
from severus_cli.ui.render import (
    is_alert,
    json_dumps,
    json_line,
    no_color_requested,
    render,
    unseen,
)
from severus_cli.ui.sanitize import literal

NickSource = Callable[[], Iterable[str]]


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
        self._console.width = max(self._output.get_size().columns, 20)
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
        self.show(render(event, own_nick=own, current_room=self.current_room))
        if self.bell_on_alert and is_alert(event, own):
            self.bell()

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


class _LineReader:
    """Lines from a binary stream, read by a daemon thread.

    A thread because ``connect_read_pipe`` cannot watch regular files (``< file``),
    and a daemon one because a blocked ``readline`` must not keep the process
    alive at exit. Bytes that are not UTF-8 become U+FFFD rather than an error.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] | None = None

    async def lines(self) -> AsyncIterator[str]:
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._pump, args=(loop, self._queue), name="stdin", daemon=True
            ).start()
        while (line := await self._queue.get()) is not None:
            yield line

    def stop(self) -> None:
        if self._queue is not None:
            self._queue.put_nowait(None)

    def _raw_lines(self) -> Iterator[bytes]:
        """Lines as bytes until EOF, read from the file descriptor when there is one.

        ``os.read`` rather than the buffered ``readline``: a daemon thread blocked
        inside a buffered read holds its lock, and interpreter shutdown then aborts
        with "could not acquire lock for <stdin>" (SIGABRT instead of our exit code).
        """
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        if fd < 0:
            while line := self._stream.readline():
                yield line
            return
        pending = b""
        while chunk := os.read(fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending

    def _pump(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
        lines = self._raw_lines()
        while True:
            try:
                raw = next(lines, b"")
            except (OSError, ValueError):
                raw = b""
            item = raw.decode("utf-8", "replace").rstrip("\r\n") if raw else None
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                return
            if item is None:
                return


class PlainUI:
    """For pipes and files: one plain line per event (no ANSI), flushed at once."""

    # A script's lines are handled in order: each command's answer from the host
    # arrives before the next line is read (see runtime/input_order.py).
    in_order = True

    def __init__(
        self,
        own_nick: Callable[[], str],
        *,
        stdin: IO[bytes] | None = None,
        stdout: IO[str] | None = None,
    ) -> None:
        self.current_room = LOBBY
        self._own_nick = own_nick
        self._reader = _LineReader(stdin if stdin is not None else sys.stdin.buffer)
        self._out = stdout if stdout is not None else sys.stdout
        self._closed = False

    async def read_lines(self) -> AsyncIterator[str]:
        if self._closed:
            return
        async for line in self._reader.lines():
            if self._closed:
                return
            yield line

    def _write(self, line: str) -> None:
        if self._closed:
            return
        try:
            try:
                self._out.write(line + "\n")
            except UnicodeEncodeError:  # e.g. an ASCII-only locale
                encoding = getattr(self._out, "encoding", None) or "ascii"
                self._out.write(line.encode(encoding, "backslashreplace").decode(encoding) + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            # The reader went away (``| head``): stop instead of failing on every line.
            self.close()

    def show(self, text: Text) -> None:
        self._write(text.plain)

    def show_event(self, event: UiEvent) -> None:
        if unseen(event):
            return
        if isinstance(event, RoomChanged):
            self.current_room = event.room
        elif isinstance(event, Welcome):
            self.current_room = LOBBY
        self.show(render(event, own_nick=self._own_nick(), current_room=self.current_room))

    def bell(self) -> None:
        """No bell on a pipe: a BEL byte in a log file helps nobody."""

    def clear(self) -> None:
        """Nothing to clear on a pipe."""

    def close(self) -> None:
        self._closed = True
        self._reader.stop()


class JsonUI(PlainUI):
    """One JSON object per line on stdout; each stdin line is something typed."""

    def show(self, text: Text) -> None:
        """Locally made lines (help, usage errors) go out as info notices."""
        notice = {"event": "notice", "ts": time.time(), "text": text.plain, "level": "info"}
        self._write(json_dumps(notice))

    def show_event(self, event: UiEvent) -> None:
        self._write(json_line(event))


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
