"""Front ends for pipes and files: plain lines, or JSON lines for bots.

Input comes from a thread reading stdin, so a script, a file (``< script``) and a
pipe all work; output is flushed line by line, so a reader sees each event at once.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO

from rich.text import Text

from severus_cli.core.client.events import LOBBY, Level, Notice, RoomChanged, UiEvent, Welcome
from severus_cli.ui.json_mode import json_dumps, json_line
from severus_cli.ui.render import render, unseen

StatusText = Callable[[], str]
"""A status line's text now: asked again for each redraw, so it may count down."""


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

    def status(self, text: StatusText | None, level: Level = "info") -> None:
        """A pipe cannot update a line in place: each state is a line (an event in JSON)."""
        if text is not None:
            self.show_event(Notice(time.time(), text(), level))

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
