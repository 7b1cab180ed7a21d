"""A host that dies: joiners notice at once, say so, reconnect when it is back, and
exit with the connection code (5) if the person gives up waiting."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

# ClientCore's heartbeat: a ping every 5 s, the host is declared dead after 20 s of
# silence, checked once a second. No command-line option changes these.
DEAD_AFTER = 20.0


def test_killed_host_is_noticed_and_rejoined(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    bob.type("/join rust")
    bob.expect(r"Now talking in #rust")
    watcher = lab.piped(
        "join",
        ana.address,
        "--nick",
        "watcher",
        "--accept-new",
        "--json",
        "--config-dir",
        str(lab.config("watcher")),
        name="json watcher",
    )
    watcher.wait_json(event="welcome")
    ana.expect(r" \* watcher joined\.")

    os.kill(ana.pid, signal.SIGKILL)
    start = time.monotonic()
    bob.expect(r"Disconnected: ")
    bob.expect(r"reconnecting in \d+ s")
    assert watcher.wait_json(event="disconnected")["reason"]
    assert time.monotonic() - start < 3, "the joiner was slow to notice"
    bob.type("lost in the gap")
    bob.expect(r"not connected \(reconnecting\); that was not sent")

    # The host comes back with the same identity: bob rejoins, room and all.
    ana = lab.host("ana", port=ana.port)
    bob.expect(r"reconnected", timeout=12)
    ana.expect(r" \* bob joined\.")
    watcher.wait_json(event="notice", text="reconnected", timeout=12)
    ana.type("/rooms")
    ana.expect(r"#rust \(1\)")
    bob.type("/leave")
    bob.expect(r"Now talking in the lobby\.")
    bob.say("after-reconnect", "bob")
    ana.expect(r"bob: after-reconnect")
    assert "lost in the gap" not in ana.text
    watcher.wait_json(event="message", sender="bob", text="after-reconnect")

    # Gone again, and this time bob stops waiting: exit 5, no traceback.
    os.kill(ana.pid, signal.SIGKILL)
    bob.expect(r"reconnecting in \d+ s")
    bob.type("/quit")
    bob.expect(r"gave up reconnecting")
    assert bob.wait_exit() == 5
    watcher.close_stdin()
    assert watcher.wait_exit() == 5
    assert "Traceback" not in bob.text
    assert b"Traceback" not in watcher.stderr
    assert b"Fatal Python error" not in watcher.stderr


def test_frozen_host_is_noticed_by_the_heartbeat(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    os.kill(ana.pid, signal.SIGSTOP)  # sockets stay open: only the heartbeat can tell
    try:
        start = time.monotonic()
        bob.expect(r"Disconnected: the host stopped answering", timeout=DEAD_AFTER + 8)
        assert DEAD_AFTER - 1 <= time.monotonic() - start <= DEAD_AFTER + 8
        bob.expect(r"reconnecting in \d+ s")
    finally:
        os.kill(ana.pid, signal.SIGCONT)
    bob.expect(r"reconnected", timeout=15)
    bob.say("thawed", "bob")
    ana.expect(r"bob: thawed")
