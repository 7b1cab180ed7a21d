"""``severus keygen`` and ``severus fingerprint``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.text import Text

from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.trust.identity import (
    IDENTITY_KEY_FILE,
    TLS_CERT_FILE,
    TLS_KEY_FILE,
    Identity,
    create_identity,
    load_or_create_identity,
)


def keygen(config_dir: Path | None, *, force: bool, json_out: bool) -> None:
    """Create the identity; without --force an existing one is never replaced."""
    directory = resolve_config_dir(config_dir)
    identity = create_identity(directory, force=force)
    if json_out:
        _print_json(identity, directory)
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(Text(f"Created a new identity in {directory}:"))
    for name in (IDENTITY_KEY_FILE, TLS_KEY_FILE, TLS_CERT_FILE):
        out.print(Text(f"  {directory / name}"))
    _print_fingerprints(out, identity)


def fingerprint(config_dir: Path | None, *, json_out: bool) -> None:
    """Show the fingerprints peers compare; make the identity first if there is none."""
    directory = resolve_config_dir(config_dir)
    identity, created = load_or_create_identity(directory)
    if created:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(Text(f"No identity yet: created one in {directory}."))
    if json_out:
        _print_json(identity, directory)
        return
    _print_fingerprints(Console(highlight=False, soft_wrap=True), identity)


def _print_fingerprints(out: Console, identity: Identity) -> None:
    out.print(Text("Identity fingerprint:    ") + Text(identity.fingerprint, style="bold"))
    out.print(Text("Certificate fingerprint: ") + Text(identity.cert_fingerprint))


def _print_json(identity: Identity, directory: Path) -> None:
    document = {
        "identity": identity.fingerprint,
        "certificate": identity.cert_fingerprint,
        "config_dir": str(directory),
    }
    sys.stdout.write(json.dumps(document) + "\n")
