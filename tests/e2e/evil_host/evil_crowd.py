"""``EVIL_HOST_MODE=crowd``: the host announces ``EVIL_CROWD`` made-up participants.

Right after welcoming ``EVIL_VICTIM`` (``cy`` by default), it sends that participant a
``joined`` for each of ``EVIL_CROWD`` nicks nobody holds, each with a random key, as a
host that wants to grow a client's memory without end would.
"""

from __future__ import annotations

import os

from severus_cli.core.host import core as _host
from severus_cli.core.wire import packets as _p

VICTIM = os.environ.get("EVIL_VICTIM", "cy").casefold()
CROWD = int(os.environ.get("EVIL_CROWD", "0"))


def install() -> None:
    hello = _host.HostCore._hello

    def evil_hello(self, peer, packet, now):  # type: ignore[no-untyped-def]
        actions = hello(self, peer, packet, now)
        if peer.nick.casefold() == VICTIM:
            for n in range(CROWD):
                joined = _p.Joined(f"made{n}", _p.LOBBY, n + 3, os.urandom(32))
                actions.append(_host.Send(peer.conn, _p.encode(joined)))
        return actions

    _host.HostCore._hello = evil_hello  # type: ignore[method-assign]
