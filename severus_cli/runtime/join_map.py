"""A joiner's mapping of its punching socket: how punching gets past a symmetric NAT
on the host's side.

Such a NAT sends the host's punches from a new port for every destination, so they
never match the hole our own punches opened, and our router drops them. A mapping on
our router lets them in from any port; we then answer whichever port they came from
(``punch_socket(any_port=True)``), and the host's NAT takes that answer for the reply
it is. The mapping is asked for alongside STUN and costs nothing when no router
answers: the punch request never waits for it. It asks for the same external port as
ours, which a router that keeps ports (as miniupnpd and most home routers do) gives,
so the endpoint STUN saw is the mapped one, and a mapping that lands a little after
the request still catches the host's later punches. It is deleted once the path is
chosen: an open flow outlives the rule that let it in.
"""

from __future__ import annotations

import asyncio
import contextlib

from severus_cli.core.nat.portmap import MIN_LEASE
from severus_cli.core.nat.relay_packets import Address
from severus_cli.runtime.portmap import PortMapper

BUDGET = 1.5  # seconds the mapping may take: punches from the host come until 1.6 s
_CLOSING: set[asyncio.Task[None]] = set()  # deletions under way, kept referenced


class PunchMapping:
    """Ask the router to forward UDP ``port`` to us, for the time it takes to punch."""

    def __init__(self, port: int, mapper: PortMapper | None = None) -> None:
        self.mapper = mapper or PortMapper("udp", port, lambda text: None, lease=2 * MIN_LEASE)
        self._task = asyncio.create_task(self.mapper.start(BUDGET))

    def endpoint(self, seen: Address) -> Address:
        """The endpoint to ask the host to punch: the mapped one when the router has
        already answered with the address STUN saw (another address means a NAT
        beyond the router, where the mapping cannot help), else ``seen``."""
        mapped = self.mapper.mapped
        if mapped is not None and mapped.external == seen[0]:
            return (mapped.external, mapped.port)
        return seen

    def close(self) -> None:
        """Delete the mapping in the background (bounded by the mapper's own limits)."""
        task = asyncio.create_task(self._close())
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._task  # a mapping granted while closing is deleted too
        await self.mapper.close()
