"""QUIC mode over a lossy path: 20% of UDP packets dropped, nothing lost or reordered.

The loss is an nftables rule in a namespace the test creates (tc netem is not in this
kernel); host, joiner and sender are real severus processes inside it.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

MESSAGES = 40
LOSS_RULES = """
table inet sevloss {
  chain in { type filter hook input priority 0; policy accept;
    meta l4proto udp numgen random mod 100 < 20 drop
  }
}
"""


def _severus(namespace: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, sys.executable, "-m", "severus_cli", *args]


class LineReader:
    """Lines from a process's stdout, read by a thread so waits can time out."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def until(self, predicate: Callable[[str], bool], timeout: float) -> list[str]:
        """Lines up to the first for which ``predicate`` is true."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if predicate(line):
                return seen
        raise AssertionError(f"timed out or ended; last lines: {seen[-10:]}")


def test_messages_survive_twenty_percent_loss(loopback_namespace: str, tmp_path: Path) -> None:
    ns = loopback_namespace
    procs: list[subprocess.Popen[str]] = []
    try:
        host = subprocess.Popen(
            _severus(
                ns,
                "host",
                "--mode",
                "quic",
                "--bind",
                "127.0.0.1",
                "--port",
                "4433",
                "--nick",
                "ana",
                "--config-dir",
                str(tmp_path / "host"),
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(host)
        banner = LineReader(host).until(lambda line: line.startswith("sev"), 20)
        ticket = banner[-1].strip()
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=LOSS_RULES, text=True, check=True
        )
        joiner = subprocess.Popen(
            _severus(
                ns, "join", ticket, "--nick", "bob", "--json", "--config-dir", str(tmp_path / "bob")
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(joiner)
        bob = LineReader(joiner)
        bob.until(lambda line: '"event":"welcome"' in line, 30)
        lines = [f"m-{i:03d}" for i in range(MESSAGES)]
        sent = subprocess.run(
            _severus(ns, "send", ticket, "--nick", "cron", "--config-dir", str(tmp_path / "cron")),
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert sent.returncode == 0, sent.stderr
        received: list[str] = []

        def collect(line: str) -> bool:
            event = json.loads(line)
            if event["event"] == "message" and event["sender"] == "cron":
                received.append(event["text"])
            return len(received) >= MESSAGES

        bob.until(collect, 60)
        assert received == lines  # none lost, duplicated or reordered
        counters = subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "list", "ruleset"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "numgen random mod 100 < 20 drop" in counters
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=5)
