"""One participant cannot get the others dropped, even on a slow link.

Two namespaces joined by a veth pair: the host, an honest sender (bob) and the attacker
(mallory, tests/netns/flooder.py) in one, and two readers in the other, behind a link
shaped to 2 Mbit/s from the host (``tc ... tbf``; netem is not in this kernel). For a
minute mallory seals the largest messages as fast as the host lets it. The reader must
stay connected and keep getting bob's lines; a second reader, stopped with SIGSTOP, must
be dropped within the idle timeout; the host's memory must stay bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from severus_cli.core.host.core import HostConfig
from tests.e2e.attack import RSS_BOUND_KIB, rss_kib
from tests.needs import require_root, require_tools, unmet
from tests.netns.natlab import DEBIAN_PACKAGE

ATTACK = 60.0  # seconds of flooding
IDLE_TIMEOUT = 30.0  # the host's default
SENTINEL_EVERY = 5.0
DELAY_BOUND = 10.0  # bob's line reaching the reader through the shaped link, under attack
HOST, READERS = "10.77.0.1", "10.77.0.2"
PORT = 4100
SHAPE = ("tbf", "rate", "2mbit", "burst", "32kbit", "latency", "400ms")


class Lines:
    """A process's output lines, each with when it was read, collected by a thread."""

    def __init__(self, proc: subprocess.Popen[str], label: str) -> None:
        self.proc = proc
        self.label = label
        self.lines: list[tuple[float, str]] = []
        self._seen = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._changed.notify_all()
        with self._changed:
            self.lines.append((time.monotonic(), ""))  # the end
            self._changed.notify_all()

    def first(self, predicate: Callable[[str], bool]) -> tuple[float, str] | None:
        """The first line so far (from the start) for which ``predicate`` holds."""
        with self._changed:
            return next(((t, line) for t, line in self.lines if predicate(line)), None)

    def until(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        """The next line for which ``predicate`` holds; ``timeout`` only bounds a failure."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                while self._seen < len(self.lines):
                    line = self.lines[self._seen][1]
                    self._seen += 1
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and self._seen >= len(self.lines)):
                    tail = "\n".join(line for _, line in self.lines[-15:])
                    raise AssertionError(f"{self.label}: timed out or ended; last lines:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


class Pair:
    """Namespaces ``PREFIX-h`` (host side) and ``PREFIX-r`` (readers), one shaped veth."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.procs: list[subprocess.Popen[str]] = []

    def ns(self, side: str) -> str:
        return f"{self.prefix}-{side}"

    def up(self) -> None:
        h, r = self.ns("h"), self.ns("r")
        for name in (h, r):
            _run("ip", "netns", "add", name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", h, "link", "add", "vh", "type", "veth", "peer", "name", "vr", "netns", r)
        _run("ip", "-n", h, "addr", "add", f"{HOST}/24", "dev", "vh")
        _run("ip", "-n", r, "addr", "add", f"{READERS}/24", "dev", "vr")
        _run("ip", "-n", h, "link", "set", "vh", "up")
        _run("ip", "-n", r, "link", "set", "vr", "up")
        _run("ip", "netns", "exec", h, "tc", "qdisc", "add", "dev", "vh", "root", *SHAPE)

    def down(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(timeout=5)
        for side in ("h", "r"):
            subprocess.run(["ip", "netns", "del", self.ns(side)], capture_output=True, check=False)

    def start(self, side: str, *command: str) -> Lines:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SEVERUS_")}
        environment["NO_COLOR"] = "1"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(side), sys.executable, *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            cwd=Path(__file__).parents[2],  # so `-m tests.netns.flooder` is found
        )
        self.procs.append(proc)
        return Lines(proc, " ".join(command[:4]))


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


@pytest.fixture
def pair() -> Iterator[Pair]:
    require_root("create network namespaces and shape a link")
    require_tools({tool: DEBIAN_PACKAGE[tool] for tool in ("ip", "tc")})
    world = Pair(f"sevsr{os.getpid()}")
    world.down()
    try:
        world.up()
    except subprocess.CalledProcessError as error:
        world.down()
        unmet(f"cannot build the shaped namespaces here: {error.stderr.strip()}")
    try:
        yield world
    finally:
        world.down()


def _event(line: str) -> dict[str, object]:
    try:
        found = json.loads(line)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _says(text: str) -> Callable[[str], bool]:
    return lambda line: _event(line).get("text") == text


def _join(pair: Pair, side: str, address: str, nick: str, home: Path) -> Lines:
    client = pair.start(
        side, "-m", "severus_cli", "join", address, "--nick", nick, "--accept-new", "--json",
        "--config-dir", str(home / nick),
    )  # fmt: skip
    client.until(lambda line: _event(line).get("event") == "welcome")
    return client


def test_a_flat_out_sender_drops_no_one_on_a_2_mbit_link(pair: Pair, tmp_path: Path) -> None:
    host = pair.start(
        "h", "-m", "severus_cli", "host", "--no-chat", "--port", str(PORT), "--nick", "ana",
        "--config-dir", str(tmp_path / "host"),
    )  # fmt: skip
    host.until(lambda line: "Ctrl-C stops it" in line)
    reader = _join(pair, "r", f"{HOST}:{PORT}", "reader", tmp_path)
    stopped = _join(pair, "r", f"{HOST}:{PORT}", "stopped", tmp_path)
    bob = _join(pair, "h", f"127.0.0.1:{PORT}", "bob", tmp_path)
    host.until(lambda line: "bob joined" in line)

    rss_before = rss_kib(host.proc.pid)
    stopped.proc.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    flooder = pair.start("h", "-m", "tests.netns.flooder", str(PORT), str(ATTACK))
    flooder.until(lambda line: line == "ready")
    start = time.monotonic()

    delays: list[float] = []
    rss_peak = rss_before
    count = 0
    while time.monotonic() - start < ATTACK + SENTINEL_EVERY:
        count += 1
        said, text = time.monotonic(), f"sentinel-{count}"
        bob.write(text)
        reader.until(_says(text), timeout=DELAY_BOUND)
        delays.append(time.monotonic() - said)
        rss_peak = max(rss_peak, rss_kib(host.proc.pid))
        next_at = said + SENTINEL_EVERY
        while (left := next_at - time.monotonic()) > 0:
            time.sleep(min(left, 0.5))  # bob's pace, not a wait for an event
            rss_peak = max(rss_peak, rss_kib(host.proc.pid))

    summary = flooder.until(lambda line: line.startswith("done"), timeout=30)
    fields = dict(part.split("=") for part in summary.split()[1:])
    # The stopped reader went, in bounded time (silence, or a backlog over the bound)...
    gone = host.first(lambda line: "stopped left" in line)
    assert gone is not None, [line for _, line in host.lines]
    # ...and the reader never did: a later line from bob still reaches it on this session.
    bob.write("sentinel-last")
    reader.until(_says("sentinel-last"), timeout=DELAY_BOUND)
    leaves = [line for _, line in host.lines if " left" in line]
    print(
        f"\n[slow receiver] mallory: {summary}; {count} lines from bob, slowest "
        f"{max(delays):.2f} s; host RSS {rss_before // 1024} MiB -> peak {rss_peak // 1024} "
        f"MiB; stopped reader dropped {gone[0] - stopped_at:.1f} s after SIGSTOP; "
        f"host saw: {leaves}"
    )
    assert not any(_event(line).get("event") == "disconnected" for _, line in reader.lines)
    assert not any("reader" in line for line in leaves), leaves
    assert int(fields["fatal"]) == 0
    limit = HostConfig().byte_limit
    assert limit is not None
    assert int(fields["bytes"]) >= 0.8 * (limit[0] + limit[1] * ATTACK)  # it did flood
    assert gone[0] - stopped_at <= IDLE_TIMEOUT + 15
    assert rss_peak - rss_before < RSS_BOUND_KIB
