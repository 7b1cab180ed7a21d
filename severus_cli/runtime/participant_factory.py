"""Build the client core for a session: our identity, and known_peers for that host.

Every participant (``join``, ``send``, the host's own chat) gets a :class:`PeerGuard`
over the same known_peers store, so no session encrypts to a key the user has not
accepted for that nick.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.membership import Snapshot
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.known_peers import KnownPeers
from severus_cli.core.trust.peer_trust import PeerGuard


def new_core(
    identity: Identity,
    nick: str,
    peers: KnownPeers | None,
    rooms: tuple[str, ...] = (),
    expected: Mapping[str, str] | None = None,
    before: Snapshot | None = None,
    send_only: bool = False,
) -> ClientCore:
    """``expected``: keys given up front (``--peer NICK=SHA256:...``), trusted alone.
    ``before``: the previous session's membership, after a reconnect, to show changes."""
    return ClientCore(
        nick,
        time.time(),
        rooms,
        static_private=identity.static_private,
        static_public=identity.static_public,
        peer_guard=PeerGuard(peers, peers.host if peers is not None else "", expected),
        before=before,
        send_only=send_only,
    )


def known_peers_for(config_dir: Path, host_label: str) -> KnownPeers:
    return KnownPeers(config_dir, host_label)


def own_host_label(identity: Identity) -> str:
    """The host's own chat remembers peers under the label every joiner uses for it
    (``key SHA256:...``, whether they joined by ticket or by address)."""
    return f"key {identity.fingerprint}"
