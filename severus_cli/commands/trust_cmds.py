"""``severus trust list|add|remove``: look after pinned host keys by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from severus_cli.core import known_hosts
from severus_cli.core.config import resolve_config_dir
from severus_cli.core.identity import parse_fingerprint
from severus_cli.core.known_hosts import KnownHosts
from severus_cli.core.trust import normalise_host
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
    # Fold rather than truncate: a clipped fingerprint or host name is useless.
    table = Table(title=Text(str(store.path)), title_justify="left", box=box.SIMPLE_HEAD)
    for header in ("Host", "Identity key", "TLS certificate", "First seen", "Last seen"):
        table.add_column(header, overflow="fold")
    for host, entry in entries.items():
        table.add_row(
            Text(host),
            Text(entry.key),
            Text(entry.cert or "-"),
            Text(entry.first_seen),
            Text(entry.last_seen),
        )
    out.print(table)


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
