"""A laptop lid closed on the host: its own chat comes back by itself on waking."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from tests.e2e.lab import TIMEOUT

if TYPE_CHECKING:
    from tests.e2e.lab import Lab

SUSPENDED = 45.0  # longer than the joiners' heartbeat (20 s) and the idle timeout (30 s)
RECONNECT_WITHIN = 60.0  # bob's backoff may be at 16 s, and each try may take 5 s


def test_host_suspended_longer_than_every_timeout_recovers(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    mark = ana.mark()
    os.kill(ana.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        bob.expect(r"Disconnected: the host stopped answering", timeout=SUSPENDED)
        bob.expect(r"reconnecting in \d+ s")
        # The length of the suspension is the scenario itself, not a wait for an event.
        time.sleep(max(0.0, SUSPENDED - (time.monotonic() - start)))
    finally:
        os.kill(ana.pid, signal.SIGCONT)
    # The host's own chat says so once, within a few seconds, and never goes dead.
    ana.expect(r"this host was suspended for \d+ s", timeout=TIMEOUT)
    bob.expect(r"reconnected", timeout=RECONNECT_WITHIN)
    ana.expect(r" \* bob joined\.")
    ana.say("good morning", "ana")
    bob.expect(r"ana: good morning")
    bob.type("/users")
    bob.expect(r"-> 2 in lobby: .*ana")
    bob.say("morning ana", "bob")
    ana.expect(r"bob: morning ana")  # the sentinel: everything before it was shown
    since = ana.text_since(mark)
    assert "stopped answering" not in since, since
    assert since.count("this host was suspended") == 1, since
    assert "Traceback" not in ana.text
