"""``severus trust list|add|remove|accept-peer``: look after pinned keys by hand."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.trust import known_hosts
from severus_cli.core.trust.identity import parse_fingerprint
from severus_cli.core.trust.known_hosts import KnownHosts
from severus_cli.core.trust.tofu import normalise_host
from severus_cli.errors import UsageError


def list_hosts(config_dir: Path | None, *, json_out: bool) -> None:
    """Show every pin; --json gives a list of objects, sorted by host."""
    store = KnownHosts.load(resolve_config_dir(config_dir))
    entries = store.entries()
    if json_out:
        rows = [
            {
                "host": host,
                "key": entry.key,
                "cert": entry.cert,
                "first_seen": entry.first_seen,
                "last_seen": entry.last_seen,
            }
            for host, entry in entries.items()
        ]
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    if not entries:
        out.print(Text(f"No pinned hosts in {store.path}."))
        return
    out.print(Text(str(store.path)))
    table = [("Host", "Identity key", "TLS certificate", "First seen", "Last seen")]
    table += [
        (host, entry.key, entry.cert or "-", entry.first_seen, entry.last_seen)
        for host, entry in entries.items()
    ]
    for line in aligned(table):
        out.print(Text(line))


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines in aligned columns, never wrapped or cut: a fingerprint or host
    name split over two lines cannot be copied or compared, whatever the width."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def add_host(config_dir: Path | None, host: str, key: str) -> None:
    """Pin a key checked out of band; refuses (exit 4) if another key is pinned."""
    address = normalise_host(host)
    key_fp = parse_fingerprint(key)
    directory = resolve_config_dir(config_dir)
    added = known_hosts.pin(directory, address, key_fp, None, known_hosts.utc_now_iso())
    verb = "Pinned" if added else "Already pinned:"
    Console(highlight=False, soft_wrap=True).print(Text(f"{verb} {address} to {key_fp}."))


def remove_host(config_dir: Path | None, host: str) -> None:
    """Forget a pin; exit 2 if the host was not pinned (likely a typo)."""
    address = normalise_host(host)
    directory = resolve_config_dir(config_dir)
    if not known_hosts.remove(directory, address):
        raise UsageError(f"{address} is not in known_hosts ({directory / known_hosts.FILE_NAME})")
    out = Console(highlight=False, soft_wrap=True)
    out.print(Text(f"Removed {address} from {directory / known_hosts.FILE_NAME}."))


def peer_host_label(host: str, config_dir: Path | None = None) -> str:
    """known_peers names a host by its identity key, ``key SHA256:...``: given as
    ``SHA256:...``, or as ``HOST:PORT``, which names the key known_hosts (in
    ``config_dir``) pins there. An address pinned to no key keeps its own name (pins
    filed by address before hosts were named by key)."""
    if host.strip().upper().startswith("SHA256:"):
        return f"key {parse_fingerprint(host)}"
    address = normalise_host(host)
    pinned = KnownHosts.load(config_dir).get(address) if config_dir is not None else None
    return f"key {pinned.key}" if pinned is not None else address


def accept_peer(config_dir: Path | None, host: str, nick: str, key: str | None) -> None:
    """Replace a participant's pinned key: with ``key``, or the changed key last offered."""
    from severus_cli.core.trust import known_peers
    from severus_cli.core.wire.packets import valid_nick

    nick = nick.removeprefix("@")
    if not valid_nick(nick):
        raise UsageError(f"not a valid nick: {nick[:40]!r}")
    key_fp = parse_fingerprint(key) if key is not None else None
    directory = resolve_config_dir(config_dir)
    label = peer_host_label(host, directory)
    old, new = known_peers.accept_peer(directory, label, nick, key_fp)
    out = Console(highlight=False, soft_wrap=True)
    if old == new:
        out.print(Text(f"Already trusted: {nick} on {host} is {new}."))
    else:
        was = f" (was {old})" if old else ""
        out.print(Text(f"Trusted {nick} on {host} as {new}{was}."))
