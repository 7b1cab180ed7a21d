"""The ``severus trust`` commands: pinned host keys (known_hosts) and participants'
keys (known_peers). Their own module, so app.py stays about the main commands; only
typer here, so importing it keeps ``severus --help`` fast (the bodies load lazily)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from severus_cli.commands.errors import run_guarded
from severus_cli.commands.options import CONFIG_DIR_ENV, ConfigDir, Json

trust_app = typer.Typer(
    help="Manage pinned keys: hosts (known_hosts) and participants (known_peers).",
    no_args_is_help=True,
)


@trust_app.callback()
def _trust_options(config_dir: ConfigDir = None) -> None:
    """``severus trust --config-dir X list`` too, for the same reason."""
    if config_dir is not None:
        os.environ[CONFIG_DIR_ENV] = str(config_dir)


@trust_app.command("list")
def trust_list(config_dir: ConfigDir = None, json_out: Json = False) -> None:
    """List pinned hosts."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.list_hosts(config_dir, json_out=json_out))


@trust_app.command("add")
def trust_add(
    host: Annotated[str, typer.Argument(help="HOST:PORT")],
    key: Annotated[str, typer.Argument(help="The host's identity fingerprint, SHA256:...")],
    cert: Annotated[
        str | None,
        typer.Option("--cert", help="Its certificate fingerprint too: checked before a secret."),
    ] = None,
    config_dir: ConfigDir = None,
) -> None:
    """Pin a host's identity fingerprint, verified out of band."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.add_host(config_dir, host, key, cert))


@trust_app.command("remove")
def trust_remove(
    host: Annotated[str, typer.Argument(help="HOST:PORT")],
    config_dir: ConfigDir = None,
) -> None:
    """Forget a pinned host (after it really changed its key)."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.remove_host(config_dir, host))


@trust_app.command("accept-peer")
def trust_accept_peer(
    host: Annotated[str, typer.Argument(help="HOST:PORT, or the host's SHA256:... (tickets)")],
    nick: Annotated[str, typer.Argument(help="The participant's nick")],
    key: Annotated[
        str | None, typer.Argument(help="Their new fingerprint (default: the one offered)")
    ] = None,
    config_dir: ConfigDir = None,
) -> None:
    """Trust a participant's changed key on a host, after /verify out of band."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.accept_peer(config_dir, host, nick, key))
