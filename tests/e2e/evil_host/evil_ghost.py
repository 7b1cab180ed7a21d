"""``EVIL_HOST_MODE=ghost``: the host slips ``EVIL_VICTIM`` (the ghost) in unseen.

Every ``joined`` about the ghost, in the lobby or a room, goes out marked ``quiet``, as
for a send-only connection (PROTOCOL.md 4.7), so clients show no line for it. The ghost
is a real participant that reads. Relays addressed to it are logged to ``EVIL_LOG`` (see
``evil_swap._log``), so a test can prove nobody handed it a key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import evil_swap

from severus_cli.core.host import core as _host
from severus_cli.core.wire import packets as _p


def _quiet(actions: list[Any]) -> list[Any]:
    out: list[Any] = []
    for action in actions:
        if isinstance(action, (_host.Send, _host.Broadcast)):
            packet = _p.decode_from_host(action.data)
            if isinstance(packet, _p.Joined) and packet.nick.casefold() == evil_swap.VICTIM:
                quiet = _p.encode(dataclasses.replace(packet, quiet=True))
                action = dataclasses.replace(action, data=quiet)
        out.append(action)
    return out


def install() -> None:
    receive = _host.HostCore.receive

    def evil_receive(self, conn, payload, now):  # type: ignore[no-untyped-def]
        evil_swap._log(self, conn, payload)
        return _quiet(receive(self, conn, payload, now))

    _host.HostCore.receive = evil_receive  # type: ignore[method-assign]
