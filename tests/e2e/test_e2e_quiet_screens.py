"""Screens stay quiet while something is retried in the background.

A joiner whose host is gone shows one plain line per reconnect attempt (no socket
library text), and one JSON event per attempt with --json. A host registered with a
relay shows only changes of state in its chat: cannot reach, registered, lost,
registered again; never each retry or punch.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Term

RETRY = r"host unreachable \(connection refused\); retrying in \d+ s \(/quit to stop\)"
# Backoff doubles from 1 s up to 30 s (+-20 %): bounds for a failing wait only.
BACKOFF_WAIT = 60.0


def system_lines(text: str) -> list[str]:
    return re.findall(r"-> (.*)", text)


def test_one_plain_line_per_reconnect_attempt(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    watcher = lab.piped(
        "join", ana.address, "--nick", "watcher", "--accept-new", "--json",
        "--config-dir", str(lab.config("watcher")), name="json watcher",
    )  # fmt: skip
    watcher.wait_json(event="welcome")
    ana.expect(r" \* watcher joined\.")

    os.kill(ana.pid, signal.SIGKILL)
    # Counted from the end of the match, not from what has arrived since: the first
    # retry line may come in the same read as the disconnect.
    mark = bob.expect(r"Disconnected: [^\n]*\n").end()
    bob.expect(r"reconnecting in \d+ s \(/quit to stop\)")
    bob.expect(RETRY, timeout=BACKOFF_WAIT)
    bob.expect(RETRY, timeout=BACKOFF_WAIT)  # the sentinel for the line before it
    shown = system_lines(bob.text_since(mark))
    assert len(shown) == 3, shown  # one line per attempt, nothing between them
    assert re.fullmatch(r"reconnecting in \d+ s \(/quit to stop\)", shown[0].strip()), shown
    assert all(re.fullmatch(RETRY, line.strip()) for line in shown[1:]), shown
    for raw in ("Connect call failed", "still unreachable", "nothing listens", "Errno"):
        assert raw not in bob.text

    events = watcher.json_until(lambda e: e["event"] == "disconnected")
    assert events[-1]["event"] == "disconnected"
    attempts = [watcher.wait_json(event="notice", timeout=BACKOFF_WAIT) for _ in range(3)]
    assert re.fullmatch(r"reconnecting in \d+ s \(/quit to stop\)", attempts[0]["text"])
    assert all(re.fullmatch(RETRY, event["text"]) for event in attempts[1:]), attempts

    ana = lab.host("ana", port=ana.port)
    bob.expect(r"reconnected", timeout=BACKOFF_WAIT)
    bob.type("/quit")
    assert bob.wait_exit() == 0
    watcher.close_stdin()
    assert watcher.wait_exit() in (0, 5)


class FakeRelay:
    """A TCP port that accepts and hangs up at once, counting the attempts: the host's
    agent fails against it as against a relay that is down, and we see it retry."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen()
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()
            self.accepted += 1

    def wait_for(self, attempts: int, timeout: float = BACKOFF_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while self.accepted < attempts:
            assert time.monotonic() < deadline, f"only {self.accepted} attempts"
            time.sleep(0.05)

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def start_relay(lab: Lab, port: int) -> Term:
    relay = lab.spawn(
        "relay", "--bind", "127.0.0.1", "--port", str(port),
        "--config-dir", str(lab.config("relay")), name="relay",
    )  # fmt: skip
    relay.expect(r"Severus relay on TCP and UDP port")
    return relay


def relay_lines(host: Term) -> list[str]:
    return [line.strip() for line in re.findall(r"-> (relay: .*)", host.text)]


def test_relay_agent_shows_only_changes_of_state(lab: Lab) -> None:
    port = lab.free_port()
    fake = FakeRelay(port)
    try:
        ana = lab.host("ana", "--mode", "quic", "--relay", f"127.0.0.1:{port}")
        ana.expect(r"relay: cannot reach the relay 127\.0\.0\.1:\d+ \(.+\); retrying")
        fake.wait_for(3)  # it retried twice more, quietly
    finally:
        fake.close()
    relay = start_relay(lab, port)
    ana.expect(r"relay: registered with 127\.0\.0\.1:\d+", timeout=BACKOFF_WAIT)
    assert len(relay_lines(ana)) == 2, relay_lines(ana)  # the retries showed nothing

    relay.kill()
    ana.expect(r"relay: lost the relay 127\.0\.0\.1:\d+ \(.+\); retrying in the background")
    fake = FakeRelay(port)
    try:
        fake.wait_for(2)
    finally:
        fake.close()
    start_relay(lab, port)
    ana.expect(r"relay: registered again with 127\.0\.0\.1:\d+", timeout=BACKOFF_WAIT)
    shown = relay_lines(ana)
    assert len(shown) == 4, shown
    assert [line.split(" ")[1] for line in shown] == ["cannot", "registered", "lost", "registered"]
    assert "punching" not in ana.text
