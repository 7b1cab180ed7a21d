"""Build the client core for a session: our identity, and known_peers for that host."""

from __future__ import annotations

import time
from pathlib import Path

from severus_cli.core.client import ClientCore
from severus_cli.core.identity import Identity
from severus_cli.core.known_peers import KnownPeers


def new_core(
    identity: Identity, nick: str, peers: KnownPeers | None, rooms: tuple[str, ...] = ()
) -> ClientCore:
    return ClientCore(
        nick,
        time.time(),
        rooms,
        static_private=identity.static_private,
        static_public=identity.static_public,
        peer_checker=peers.check if peers is not None else None,
    )


def known_peers_for(config_dir: Path, host_label: str) -> KnownPeers:
    return KnownPeers(config_dir, host_label)
