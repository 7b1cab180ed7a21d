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
# How late the heartbeat may fire and still pass: it runs once a second, and a machine
# busy with other work delays the joiner and this test a little more. Far below what
# would hide a heartbeat that never fires.
LATE = 10.0
# Reconnecting backs off (1 s, 2 s, 4 s ... each +-20 %), so the attempt after the host
# is back can come about as long after it as the host took to restart; a host that
# restarts slowly on a busy machine still leaves room within this.
RECONNECT_WITHIN = 30.0


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
    # A closed connection is noticed at once; without it only the heartbeat would tell,
    # after DEAD_AFTER. Half of that tells the two apart with room for a busy machine.
    assert time.monotonic() - start < DEAD_AFTER / 2, "the joiner was slow to notice"
    bob.type("lost in the gap")
    bob.expect(r"not connected \(reconnecting\); that was not sent")

    # The host comes back with the same identity: bob rejoins, room and all.
    ana = lab.host("ana", port=ana.port)
    bob.expect(r"reconnected", timeout=RECONNECT_WITHIN)
    ana.expect(r" \* bob joined\.")
    watcher.wait_json(event="notice", text="reconnected", timeout=RECONNECT_WITHIN)
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
    # The pong is the last thing bob hears before the freeze (or close to it): the
    # silence the heartbeat measures starts no later than the moment it is shown here.
    bob.type("/ping")
    bob.expect(r"-> pong: ")
    os.kill(ana.pid, signal.SIGSTOP)  # sockets stay open: only the heartbeat can tell
    try:
        start = time.monotonic()
        bob.expect(r"Disconnected: the host stopped answering", timeout=DEAD_AFTER + LATE)
        waited = time.monotonic() - start
        # Not before DEAD_AFTER, less the moment between bob hearing the pong and the
        # freeze (a busy machine can stretch it); not long after it either.
        assert DEAD_AFTER - 2 <= waited <= DEAD_AFTER + LATE, waited
        bob.expect(r"reconnecting in \d+ s")
    finally:
        os.kill(ana.pid, signal.SIGCONT)
    bob.expect(r"reconnected", timeout=RECONNECT_WITHIN)
    bob.say("thawed", "bob")
    ana.expect(r"bob: thawed")
