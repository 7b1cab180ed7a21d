"""Turns a real severus host into one that loses room messages, for tests only.

Loaded by Python at start-up when this folder is on PYTHONPATH; does nothing unless
LOSSY_HOST_DROP is set, to ``FIRST-LAST``: the room messages (counted from 1, as the
host relays them) it then silently does not deliver. A host may lose or withhold what
it relays; receivers must say that something is missing.
"""

from __future__ import annotations

import os

DROP = os.environ.get("LOSSY_HOST_DROP", "")

if DROP:
    from severus_cli.core.host import core as _host

    _first, _last = (int(n) for n in DROP.split("-"))
    _count = [0]
    _original = _host.HostCore._seal

    def _lossy_seal(self, peer, seal, now):  # type: ignore[no-untyped-def]
        actions = _original(self, peer, seal, now)
        if not any(isinstance(a, _host.Broadcast) for a in actions):
            return actions
        _count[0] += 1
        if _first <= _count[0] <= _last:
            return [a for a in actions if not isinstance(a, _host.Broadcast)]
        return actions

    _host.HostCore._seal = _lossy_seal  # type: ignore[method-assign]
