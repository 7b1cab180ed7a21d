"""Real processes: leaving a join while it counts down to its next reconnect attempt.

Ctrl-C on the empty prompt then exits 130 at once, with no traceback; ``/quit`` exits 5
as the README's table says (tests/e2e/test_e2e_dead_host.py)."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from tests.e2e.test_e2e_exit_codes import CTRL_C, INTERRUPTED, _exits_with

if TYPE_CHECKING:
    from tests.e2e.lab import Lab


def test_ctrl_c_during_the_countdown_exits_130(lab: Lab) -> None:
    ana = lab.host("ana")
    bob = lab.join(ana, "bob")
    ana.expect(r" \* bob joined\.")
    os.kill(ana.pid, signal.SIGKILL)
    bob.expect(r"reconnecting in \d+ s|retrying in \d+ s")
    bob.child.send(CTRL_C)
    _exits_with(bob, INTERRUPTED)
    assert "Traceback" not in bob.text
