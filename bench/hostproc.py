"""A real ``severus host`` process: started with stdin kept open, its ticket read from
its stdout, pinned to the host CPU, and always stopped."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from bench.common import HOST_CPU, pin, process_cpu_seconds
from severus_cli.core.trust.ticket import looks_like_ticket

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def free_port(kind: int) -> int:
    """A port the kernel says is free now, for TCP (SOCK_STREAM) or UDP (SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Limits that would stop a benchmark, lifted where this version of the host has them:
# many connections come from one address (127.0.0.1).
OPTIONAL_LIMITS = {"--max-per-ip": "0", "--max-joins-per-ip": "0"}


@functools.cache
def optional_limits() -> tuple[str, ...]:
    """The options of OPTIONAL_LIMITS that ``severus host --help`` lists, with values."""
    done = subprocess.run(
        [sys.executable, "-m", "severus_cli", "host", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_COLOR="1", COLUMNS="400", TERM="dumb"),
        timeout=60,
        check=False,
    )
    found: list[str] = []
    for option, value in OPTIONAL_LIMITS.items():
        if option in done.stdout:
            found += [option, value]
    return tuple(found)


class HostProcess:
    """``severus host`` in ``mode`` ("direct" or "quic") on 127.0.0.1."""

    def __init__(self, mode: str, config_dir: Path, work_dir: Path, pin_cpu: bool) -> None:
        self.mode = mode
        self.config_dir = config_dir
        self.pin_cpu = pin_cpu
        self.pinned = False
        kind = socket.SOCK_DGRAM if mode == "quic" else socket.SOCK_STREAM
        self.port = free_port(kind)
        self.ticket = ""
        self._out_path = work_dir / f"host-{mode}.out"
        self._err_path = work_dir / f"host-{mode}.err"
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def command(self) -> list[str]:
        return [*self.base_command(), *optional_limits()]

    def base_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "severus_cli",
            "host",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-chat",  # measure the relay itself, as an IRC server would be measured
            "--rate-limit",
            "0",
            "--max-clients",
            "1024",
            "--idle-timeout",
            "600",
            "--mode",
            self.mode,
            "--config-dir",
            str(self.config_dir),
        ]

    def start(self) -> None:
        """Start the process; :meth:`wait_ready` then reads its ticket."""
        # stdout goes to a file, not a pipe: the host prints every lobby line, and a pipe
        # nobody drains would stall it. stdin is a pipe we keep open: EOF means /quit.
        self._out = open(self._out_path, "wb")  # noqa: SIM115 - closed in stop()
        self._err = open(self._err_path, "wb")  # noqa: SIM115
        env = dict(os.environ, NO_COLOR="1", COLUMNS="400")
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=self._out,
            stderr=self._err,
            env=env,
        )
        if self.pin_cpu:
            self.pinned = pin(self._proc.pid, HOST_CPU)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """Wait for the ticket line on the host's stdout and return it."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"severus host ({self.mode}) exited with {self._proc.returncode}: "
                    + self._err_path.read_text(errors="replace")[-2000:]
                )
            text = self._out_path.read_text(errors="replace")
            for line in text.splitlines():
                candidate = line.strip()
                if line.startswith("sev") and " " not in candidate and looks_like_ticket(candidate):
                    self.ticket = candidate
                    return candidate
            time.sleep(0.02)
        raise RuntimeError(f"severus host ({self.mode}) printed no ticket in {timeout:g} s")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """End of stdin asks the host to leave; kill it if it does not."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                with contextlib.suppress(OSError):
                    if proc.stdin is not None:
                        proc.stdin.close()
                with contextlib.suppress(OSError):
                    proc.terminate()  # a --no-chat host stops on SIGTERM
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT)
        finally:
            for stream in (self._out, self._err):
                if stream is not None:
                    stream.close()
            self._out = self._err = None
            self._proc = proc  # keep pid readable for reports; poll() is not None now

    def __enter__(self) -> HostProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
