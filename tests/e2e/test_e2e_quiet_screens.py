"""Screens stay quiet while something is retried in the background.

A joiner whose host is gone shows on a terminal one status line that changes in place
(no socket library text), then one line when it is back; with --json, one event per
attempt. A host registered with a relay shows only changes of state in its chat:
cannot reach, registered, lost, registered again; never each retry or punch.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

from tests.e2e.lab import TIMEOUT
from tests.e2e.test_e2e_terminal_safety import Tmux

if TYPE_CHECKING:
    from tests.e2e.lab import Lab, Term

RETRY = r"host unreachable \([^)]+\); retrying in \d+ s \(/quit to stop\)"
# Backoff doubles from 1 s up to 30 s (+-20 %): bounds for a failing wait only.
BACKOFF_WAIT = 60.0


STATUS = re.compile(r"reconnecting|host unreachable|retrying|trying again")


def chat_lines(screen: str) -> list[str]:
    """The lines printed above the prompt (each starts with its time)."""
    return [line for line in screen.splitlines() if re.match(r"\d\d:\d\d ", line)]


def test_a_reconnect_is_one_line_updated_in_place(lab: Lab, tmux_bin: str) -> None:
    ana = lab.host("ana")
    watcher = lab.bot(ana, "watcher")
    tmux = Tmux(tmux_bin, f"severus-e2e-{ana.port}", lab.root, lab.env())
    try:
        bob = [*lab.cli, "join", ana.address, "--nick", "bob", "--accept-new"]
        bob += ["--config-dir", shlex.quote(str(lab.config("bob")))]
        tmux.start("bob", " ".join(bob) + '; echo "exit status $?"')
        tmux.wait_for("bob", lambda s: "Welcome, bob!" in s, "bob's welcome")
        ana.expect(r" \* bob joined\.")

        os.kill(ana.pid, signal.SIGKILL)
        fake = bind_when_free(ana.port)  # accepts and hangs up: counts the attempts
        try:
            statuses = watch_attempts(tmux, fake, attempts=3)
        finally:
            fake.close()
        # It changed in place: the countdown, then the cause of the failed attempts.
        assert len(statuses) >= 2, statuses
        assert re.fullmatch(r"reconnecting in \d+ s \(/quit to stop\)", statuses[0]), statuses
        assert any(re.fullmatch(RETRY, line) for line in statuses), statuses

        ana = lab.host("ana", port=ana.port)
        screen = tmux.wait_for("bob", lambda s: "-> reconnected" in s, "the reconnect")
        shown = [line.split(" -> ", 1)[1] for line in chat_lines(screen) if " -> " in line]
        gone = shown.index(next(line for line in shown if line.startswith("Disconnected:")))
        assert shown[gone + 1] == "reconnected", shown  # nothing between the two
        assert shown.count("reconnected") == 1, shown
        assert not any(STATUS.search(line) for line in screen.splitlines()), screen
        for raw in ("Connect call failed", "nothing listens", "Errno"):
            assert raw not in screen

        tmux("send-keys", "-t", "bob", "/quit", "Enter")
        screen = tmux.wait_for("bob", lambda s: "exit status" in s, "bob's exit")
        assert "exit status 0" in screen, screen
    finally:
        tmux.kill()

    # --json: one event per attempt, each in plain words.
    events = watcher.json_until(lambda e: e["event"] == "disconnected")
    assert events[-1]["event"] == "disconnected"
    attempts = [watcher.wait_json(event="notice", timeout=BACKOFF_WAIT) for _ in range(3)]
    assert re.fullmatch(r"reconnecting in \d+ s \(/quit to stop\)", attempts[0]["text"])
    assert all(re.fullmatch(RETRY, event["text"]) for event in attempts[1:]), attempts
    watcher.wait_json(event="notice", text="reconnected", timeout=BACKOFF_WAIT)
    watcher.close_stdin()
    assert watcher.wait_exit() == 0


def watch_attempts(tmux: Tmux, fake: FakeRelay, attempts: int) -> list[str]:
    """Read the screen until ``attempts`` reached ``fake``; each time, at most one status
    line and no new line above the prompt. The status lines seen, in order."""
    deadline = time.monotonic() + BACKOFF_WAIT
    seen: list[str] = []
    printed: list[str] | None = None
    while fake.accepted < attempts:
        assert time.monotonic() < deadline, f"only {fake.accepted} attempts"
        screen = tmux.screen("bob")
        status = [line.strip() for line in screen.splitlines() if STATUS.search(line)]
        assert len(status) <= 1, screen
        if status and (not seen or seen[-1] != status[0]):
            seen.append(status[0])
        lines = chat_lines(screen)
        if printed is None and any("Disconnected:" in line for line in lines):
            printed = lines
        assert printed is None or lines == printed, screen  # nothing printed per attempt
        time.sleep(0.1)
    return seen


def bind_when_free(port: int) -> FakeRelay:
    """The killed host's port, as soon as the kernel lets it go."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return FakeRelay(port)
        except OSError:
            assert time.monotonic() < deadline, f"port {port} stayed busy"
            time.sleep(0.05)


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
