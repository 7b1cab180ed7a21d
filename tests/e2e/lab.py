"""End-to-end helpers: real ``severus`` processes on 127.0.0.1, driven like a person would.

Interactive processes run on a pseudo-terminal (pexpect, 40x120). A reader thread
keeps everything each one prints, so a process never blocks on a full pty, and tests
can both wait for a line and later inspect everything that was ever shown. Every
process started through the ``lab`` fixture is killed at teardown.

The fixtures that hand these out live in ``tests/e2e/conftest.py``; tests import the
classes from here (``from tests.e2e.lab import Lab``), never from a conftest.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import queue
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pexpect

# Seconds for any single expectation. A wait ends as soon as what it waits for shows,
# so this only bounds a failure: generous, for a machine busy with other work.
TIMEOUT = 20.0
DIMENSIONS = (40, 120)
CLI = (sys.executable, "-m", "severus_cli")
CPR_REQUEST = b"\x1b[6n"
CPR_ANSWER = b"\x1b[1;1R"

# CSI (colours, cursor moves, modes), OSC (titles), other two-byte escapes, CR, BEL.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_=>]"
    r"|[\r\x07]"
)
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _squeeze(text: str, limit: int = 3000) -> str:
    """The tail of a transcript for an error message, without runs of blank lines."""
    return re.sub(r"\n\s*\n", "\n", text)[-limit:]


def ticket_in(host_text: str) -> str:
    """The ticket a host printed (wrapped over lines on a narrow terminal)."""
    block = host_text.split("Ticket", 1)[1].split("\n", 1)[1].split("Friends join with", 1)[0]
    ticket = "".join(block.split())
    assert ticket.startswith("sev"), host_text
    return ticket


def default_signals() -> None:
    """In a child before exec: Ctrl-C (SIGINT) does what it does for a person at a
    terminal. A suite started in the background of a shell without job control runs with
    SIGINT ignored, and its children would inherit that, so no Ctrl-C would reach them.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(*, color: bool = False, **extra: str) -> dict[str, str]:
    # SEVERUS_LOOP=uvloop runs the whole suite on uvloop, SEVERUS_COMPILED on the mypyc
    # build (README, "Development"); other settings would leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SEVERUS_") or k in ("SEVERUS_LOOP", "SEVERUS_COMPILED")
    }
    env.pop("FORCE_COLOR", None)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    if not color:
        env["NO_COLOR"] = "1"
    env.update(extra)
    return env


class Term:
    """A severus process on a pseudo-terminal."""

    def __init__(self, args: Sequence[str], env: dict[str, str], name: str, cwd: Path) -> None:
        self.name = name
        self.args = list(args)
        self.child = pexpect.spawn(
            CLI[0],
            [*CLI[1:], *args],
            cwd=str(cwd),
            env=env,
            dimensions=DIMENSIONS,
            timeout=TIMEOUT,
            encoding="utf-8",
            preexec_fn=default_signals,
        )
        self._raw: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._stop = False
        self._pos = 0  # in the cleaned text: where the next expect() starts looking
        self._exit: int | None = None
        self._thread = threading.Thread(target=self._pump, name=f"pty-{name}", daemon=True)
        self._thread.start()

    # --- output ---------------------------------------------------------------------

    def _pump(self) -> None:
        fd = self.child.child_fd
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while not self._stop:
            try:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(fd, 65536)
            except (OSError, ValueError):
                data = b""
            if not data:
                break
            # Answer cursor position requests as a real terminal would; prompt_toolkit
            # otherwise waits a second for the answer before it prints anything.
            for _ in range(data.count(CPR_REQUEST)):
                with contextlib.suppress(OSError):
                    os.write(fd, CPR_ANSWER)
            with self._cond:
                self._raw.append(decoder.decode(data))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def raw(self) -> str:
        """Everything printed so far, escapes included."""
        with self._cond:
            return "".join(self._raw)

    @property
    def text(self) -> str:
        """Everything printed so far, without escape sequences or carriage returns."""
        return strip_ansi(self.raw)

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears after the previous match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = strip_ansi("".join(self._raw))
                found = regex.search(text, self._pos)
                if found:
                    self._pos = found.end()
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._cond.wait(min(left, 0.2))
        state = "exited" if self._eof else f"still running after {timeout:g} s"
        raise AssertionError(
            f"{self.name}: {pattern!r} not seen ({state}); it printed after the last "
            f"match:\n{_squeeze(text[self._pos :])}"
        )

    def expect_exact(self, literal: str, timeout: float = TIMEOUT) -> re.Match[str]:
        return self.expect(re.escape(literal), timeout)

    def mark(self) -> int:
        """An offset into ``text``; ``text_since(mark)`` is what came after it."""
        return len(self.text)

    def text_since(self, mark: int) -> str:
        return self.text[mark:]

    # --- input ----------------------------------------------------------------------

    def type(self, line: str) -> None:
        """Type ``line`` and press Enter."""
        self.child.send(line + "\r")

    def say(self, text: str, nick: str, timeout: float = TIMEOUT) -> None:
        """Type a chat line and wait until our own echo ``[nick] text`` is shown."""
        self.type(text)
        self.expect(re.escape(f"[{nick}] {text}"), timeout)

    # --- lifetime ---------------------------------------------------------------------

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        """Wait for the process to end (its pty closes) and return its exit status."""
        if self._exit is not None:
            return self._exit
        with self._cond:
            self._cond.wait_for(lambda: self._eof, timeout)
            ended = self._eof
        if not ended:
            raise AssertionError(
                f"{self.name} did not exit within {timeout:g} s; it printed:\n{_squeeze(self.text)}"
            )
        self._thread.join(2)
        deadline = time.monotonic() + 5
        while self.child.isalive() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.child.close()
        status = self.child.exitstatus
        if status is None:
            status = -(self.child.signalstatus or 0)
        self._exit = status
        return status

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    def kill(self) -> None:
        self._stop = True
        with contextlib.suppress(Exception):
            if self.child.isalive():
                os.kill(self.child.pid, signal.SIGKILL)
        self._thread.join(2)
        with contextlib.suppress(Exception):
            self.child.close(force=True)


class Host(Term):
    """``severus host`` on 127.0.0.1; ready once its own participant was welcomed."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str],
        name: str,
        cwd: Path,
        port: int,
        config: Path,
    ) -> None:
        super().__init__(args, env, name, cwd)
        self.port = port
        self.config = config
        self.address = f"127.0.0.1:{port}"
        found = self.expect(r"Identity fingerprint:\s+(SHA256:\S+)")
        self.fingerprint = found.group(1)
        self.expect(r"Welcome, ")


class Piped:
    """A severus process with stdin/stdout/stderr on pipes; stdout is read line by line."""

    def __init__(self, args: Sequence[str], env: dict[str, str], name: str, cwd: Path) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [*CLI, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=default_signals,
        )
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stdout: list[bytes] = []
        self.stderr = b""
        threading.Thread(target=self._read_out, daemon=True).start()
        self._err_thread = threading.Thread(target=self._read_err, daemon=True)
        self._err_thread.start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        # kill() closes the pipe under this reader: that ends the output, not the test.
        with contextlib.suppress(ValueError, OSError):
            for line in self.proc.stdout:
                self.stdout.append(line)
                self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def write_line(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def next_line(self, timeout: float = TIMEOUT) -> bytes:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no output line within {timeout:g} s") from None
        if line is None:
            self.lines.put(None)
            raise AssertionError(
                f"{self.name} closed its stdout; stderr: {self.stderr.decode(errors='replace')}"
            )
        return line

    def wait_line(self, pattern: str, timeout: float = TIMEOUT) -> bytes:
        """Read lines until one matches ``pattern`` (a regex over the decoded line)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no line matching {pattern!r}")
            line = self.next_line(left)
            if re.search(pattern, line.decode("utf-8", "replace")):
                return line

    def wait_json(self, timeout: float = TIMEOUT, **fields: Any) -> dict[str, Any]:
        """Read JSON lines until one has all of ``fields``; every line must be JSON."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no JSON event with {fields}")
            obj = json.loads(self.next_line(left))
            assert isinstance(obj, dict), obj
            if all(obj.get(k) == v for k, v in fields.items()):
                return obj

    def json_until(
        self, done: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> list[dict[str, Any]]:
        """Every JSON event up to and including the first one ``done`` accepts.

        How a test proves that something did *not* happen without a fixed window: cause
        a later event that travels the same ordered path (a sentinel), wait for it, and
        inspect what came before it.
        """
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.next_line(max(0.0, deadline - time.monotonic()))
            except AssertionError as error:
                raise AssertionError(
                    f"the awaited event did not come ({error}): {events}"
                ) from None
            obj = json.loads(line)
            assert isinstance(obj, dict), obj
            events.append(obj)
            if done(obj):
                return events

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        code = self.proc.wait(timeout)
        self._err_thread.join(2)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()


class Lab:
    """Starts severus processes, each with its own config dir, and cleans them up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[Term | Piped] = []

    def config(self, name: str) -> Path:
        return self.root / name

    @staticmethod
    def free_port() -> int:
        return free_port()

    @staticmethod
    def env(color: bool = False) -> dict[str, str]:
        return cli_env(color=color)

    @property
    def cli(self) -> list[str]:
        """The command line that runs severus, for a shell (tmux)."""
        return [shlex.quote(part) for part in CLI]

    def host(
        self,
        nick: str = "ana",
        *extra: str,
        port: int | None = None,
        config: str = "host",
        env: dict[str, str] | None = None,
    ) -> Host:
        port = port or free_port()
        directory = self.config(config)
        args = [
            "host",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--nick",
            nick,
            "--config-dir",
            str(directory),
            *extra,
        ]
        host = Host(args, env or cli_env(), f"host {nick}", self.root, port, directory)
        self.procs.append(host)
        return host

    def spawn(self, *args: str, name: str = "severus", env: dict[str, str] | None = None) -> Term:
        term = Term(args, env or cli_env(), name, self.root)
        self.procs.append(term)
        return term

    def join(
        self,
        host: Host | str,
        nick: str,
        *extra: str,
        config: str | None = None,
        accept_new: bool = True,
        welcome: bool = True,
    ) -> Term:
        """``severus join`` on a terminal; by default waits for the welcome."""
        address = host.address if isinstance(host, Host) else host
        args = ["join", address, "--nick", nick, "--config-dir", str(self.config(config or nick))]
        if accept_new:
            args.append("--accept-new")
        term = self.spawn(*args, *extra, name=f"join {nick}")
        if welcome:
            term.expect(rf"Welcome, {re.escape(nick)}!")
        return term

    def bot(self, host: Host, nick: str) -> Piped:
        """``severus join --json`` on pipes, pinned with --accept-new; waits for the welcome."""
        bot = self.piped(
            "join",
            host.address,
            "--nick",
            nick,
            "--accept-new",
            "--json",
            "--config-dir",
            str(self.config(nick)),
            name=f"bot {nick}",
        )
        bot.wait_json(event="welcome")
        return bot

    def piped(self, *args: str, name: str = "severus", env: dict[str, str] | None = None) -> Piped:
        proc = Piped(args, env or cli_env(), name, self.root)
        self.procs.append(proc)
        return proc

    def run(
        self, *args: str, stdin: bytes = b"", timeout: float = 60.0
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command to completion with pipes (no terminal); ``timeout`` only bounds
        a command that hangs, so it is generous."""
        return subprocess.run(
            [*CLI, *args],
            cwd=self.root,
            input=stdin,
            capture_output=True,
            env=cli_env(),
            timeout=timeout,
            preexec_fn=default_signals,
        )

    def send(
        self, host: Host | str, stdin: bytes, *extra: str, nick: str = "cron", config: str = "cron"
    ) -> subprocess.CompletedProcess[bytes]:
        address = host.address if isinstance(host, Host) else host
        return self.run(
            "send",
            address,
            "--nick",
            nick,
            "--config-dir",
            str(self.config(config)),
            *extra,
            stdin=stdin,
        )

    def fingerprint(self, config: Path) -> str:
        result = self.run("fingerprint", "--config-dir", str(config))
        assert result.returncode == 0, result.stderr
        found = _FINGERPRINT.search(result.stdout.decode())
        assert found, result.stdout
        return found.group(0)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill()
