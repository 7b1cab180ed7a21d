"""A relayed session keeps looking for a direct or punched path, and moves onto it.

A joiner ends up relayed when, at that moment, neither the ticket's addresses nor a
punched hole answered: a router that blocked UDP for a while, a network that was
still coming up. Things change, so while the session is relayed it tries again in
the background, soon at first, then less and less often (``BACKOFF``, capped), the
ticket's direct addresses and punching alike but never the relay (it has that). When
a path opens, the session moves onto it (net/link_move.py, PROTOCOL.md 4.8): nothing
said is lost or repeated, nobody else sees a thing, and the relay may go away.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence

from severus_cli.core.client.events import Notice, UiEvent
from severus_cli.core.client.paths import PathHistory
from severus_cli.core.client.routes import RelayRoute
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.ticket import Endpoint
from severus_cli.core.wire import packets as p
from severus_cli.errors import SeverusError, TrustError
from severus_cli.net.client_link import ClientLink
from severus_cli.net.link_move import MoveRefused, move_session
from severus_cli.net.participant import RemoteParticipant
from severus_cli.net.trust_gate import HostPolicy
from severus_cli.runtime.connect import race
from severus_cli.runtime.traverse import PunchOnly

# Seconds before each try, the last one repeated: a UDP block lifted at any moment is
# found within the cap plus one try (a few seconds), well inside 45 s.
BACKOFF = (2.0, 5.0, 10.0, 20.0, 30.0)
ATTEMPT_TIMEOUT = 5.0  # for one try, every path together
# After this many failed tries (about 4 minutes) a path is unlikely to open by itself
# (a symmetric NAT on both sides, say): each try costs a relay connection, STUN and
# the host's punches, so from then on one every LATER seconds for the whole session.
EAGER_TRIES = 10
LATER = 300.0


def wait_before(tries: int) -> float:
    """Seconds to wait before try number ``tries`` (from 0)."""
    return BACKOFF[min(tries, len(BACKOFF) - 1)] if tries < EAGER_TRIES else LATER


def better_paths(endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    """The ticket's routes less the relayed one: direct addresses, and punching."""
    better: list[Endpoint] = []
    for endpoint in endpoints:
        if not isinstance(endpoint, RelayRoute):
            better.append(endpoint)
        elif endpoint.punch:
            values = {f.name: getattr(endpoint, f.name) for f in dataclasses.fields(endpoint)}
            better.append(PunchOnly(**values))
    return better


def wants_upgrade(link: ClientLink, participant: RemoteParticipant) -> bool:
    """Relayed, and the host takes moves (an older host does not: no try at all)."""
    return link.path == "relayed" and p.MOVE in participant.core.host_caps


async def upgrade_path(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    participant: RemoteParticipant,
    history: PathHistory,
    show: Callable[[list[UiEvent]], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Try the better paths with backoff until the session is on one of them."""
    better = better_paths(endpoints)
    if not better:
        return
    tries = 0
    while True:
        await sleep(wait_before(tries))
        tries += 1
        try:
            link = await race(identity, better, policy, ATTEMPT_TIMEOUT)
        except TrustError:
            return  # something there is not the host: never move towards it
        except (SeverusError, OSError):
            continue
        try:
            await move_session(participant, link)
        except MoveRefused:
            continue
        await _landed(participant)
        if participant.link is not link:  # it ended meanwhile: a reconnect starts over
            return
        history.now(link.path, time.time())
        show([Notice(time.time(), history.line())])
        return


async def _landed(participant: RemoteParticipant, limit: float = 30.0) -> None:
    """Until the receive loop has switched to the new link (or the session ended)."""
    deadline = time.monotonic() + limit
    while participant.move is not None and participant.ended is None:
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.01)
