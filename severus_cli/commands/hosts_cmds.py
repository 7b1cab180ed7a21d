"""``severus hosts [list|add|remove]``: hosts saved by name in config.toml."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

from severus_cli.commands.trust_cmds import aligned
from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.store.files import atomic_write, locked
from severus_cli.core.store.settings import (
    NAME,
    SavedHost,
    load_settings,
    settings_path,
    with_host,
    without_host,
)
from severus_cli.errors import ConfigError, UsageError

_Change = Callable[[str, Path], str]  # file text -> new text


def list_saved(config_dir: Path | None, *, json_out: bool) -> None:
    directory = resolve_config_dir(config_dir)
    settings = load_settings(directory)
    path = settings_path(directory)
    if json_out:
        rows = [_row(host) for host in settings.hosts.values()]
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    if not settings.hosts:
        out.print(Text(f"No saved hosts in {path} (add one: severus hosts add NAME TARGET)."))
        return
    out.print(Text(str(path)))
    table = [("Name", "Target", "Fingerprint", "Nick", "Mode")]
    for host in settings.hosts.values():
        shown = host.address or _short_ticket(host.ticket or "")
        table.append(
            (host.name, shown, host.fingerprint or "-", host.nick or "-", host.mode or "-")
        )
    for line in aligned(table):
        out.print(Text(line))


def _short_ticket(ticket: str) -> str:
    """Enough of a ticket to recognise it; the rest (with its join secret) stays put."""
    return f"ticket {ticket[:16]}..."


def _row(host: SavedHost) -> dict[str, str | None]:
    return {
        "name": host.name,
        "address": host.address,
        "ticket": _short_ticket(host.ticket) if host.ticket else None,
        "fingerprint": host.fingerprint,
        "nick": host.nick,
        "mode": host.mode,
    }


def add_saved(
    config_dir: Path | None,
    name: str,
    target: str,
    *,
    fingerprint: str | None,
    nick: str | None,
    mode: str | None,
) -> None:
    from severus_cli.core.trust.identity import parse_fingerprint
    from severus_cli.core.trust.ticket import decode_ticket, encode_ticket, looks_like_ticket
    from severus_cli.core.trust.tofu import normalise_host
    from severus_cli.core.wire.packets import valid_nick

    if not NAME.fullmatch(name):
        raise UsageError(f"host name {name!r}: use 1-64 of letters, digits, _ -")
    if nick is not None and not valid_nick(nick):
        raise UsageError(f"invalid nick {nick!r}: use 1-32 of letters, digits, _ . -")
    target = target.strip()
    if looks_like_ticket(target):
        host = SavedHost(name, ticket=encode_ticket(decode_ticket(target)))
    else:
        host = SavedHost(name, address=normalise_host(target))
    if fingerprint is not None:
        fingerprint = parse_fingerprint(fingerprint)
    host = SavedHost(name, host.address, host.ticket, fingerprint, nick, mode)
    path = _edit(config_dir, lambda text, path: with_host(text, path, host))
    Console(highlight=False, soft_wrap=True).print(
        Text(f"Saved {name} in {path}: severus join {name}")
    )


def remove_saved(config_dir: Path | None, name: str) -> None:
    path = _edit(config_dir, lambda text, path: without_host(text, path, name))
    Console(highlight=False, soft_wrap=True).print(Text(f"Removed {name} from {path}"))


def _edit(config_dir: Path | None, change: _Change) -> Path:
    """Read, change and atomically replace config.toml (0600: a ticket carries the
    join secret), under a lock so two edits at once cannot lose one."""
    path = settings_path(resolve_config_dir(config_dir))
    with locked(path):
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            text = ""
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text") from None
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
        atomic_write(path, change(text, path).encode("utf-8"), 0o600)
    return path
