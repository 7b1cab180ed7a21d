"""The ``severus hosts`` commands: hosts saved by name in config.toml. Their own
module, so app.py stays about the main commands; only typer here, so importing it
keeps ``severus --help`` fast (the bodies load lazily)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from severus_cli.commands.errors import run_guarded
from severus_cli.commands.options import (
    CONFIG_DIR_ENV,
    ConfigDir,
    ExpectedFingerprint,
    Json,
    Mode,
    Nick,
)

hosts_app = typer.Typer(
    help="Hosts saved by name in config.toml, for `severus join NAME` and `send NAME`.",
    invoke_without_command=True,
)


@hosts_app.callback()
def _hosts_default(
    ctx: typer.Context, config_dir: ConfigDir = None, json_out: Json = False
) -> None:
    """With no subcommand, list the saved hosts (``severus hosts``)."""
    if config_dir is not None:
        os.environ[CONFIG_DIR_ENV] = str(config_dir)
    if ctx.invoked_subcommand is None:
        from severus_cli.commands import hosts_cmds

        run_guarded(lambda: hosts_cmds.list_saved(config_dir, json_out=json_out))


@hosts_app.command("list")
def hosts_list(config_dir: ConfigDir = None, json_out: Json = False) -> None:
    """List the saved hosts."""
    from severus_cli.commands import hosts_cmds

    run_guarded(lambda: hosts_cmds.list_saved(config_dir, json_out=json_out))


@hosts_app.command("add")
def hosts_add(
    name: Annotated[str, typer.Argument(help="A short name: letters, digits, _ -")],
    target: Annotated[str, typer.Argument(help="HOST[:PORT] or a ticket")],
    fingerprint: ExpectedFingerprint = None,
    nick: Nick = None,
    mode: Annotated[
        Mode | None, typer.Option("--mode", help="The transport for this host.")
    ] = None,
    config_dir: ConfigDir = None,
) -> None:
    """Save a host under NAME, so `severus join NAME` reaches it."""
    from severus_cli.commands import hosts_cmds

    run_guarded(
        lambda: hosts_cmds.add_saved(
            config_dir,
            name,
            target,
            fingerprint=fingerprint,
            nick=nick,
            mode=mode.value if mode else None,
        )
    )


@hosts_app.command("remove")
def hosts_remove(
    name: Annotated[str, typer.Argument(help="The saved host's name")],
    config_dir: ConfigDir = None,
) -> None:
    """Forget a saved host (the rest of config.toml is left as it is)."""
    from severus_cli.commands import hosts_cmds

    run_guarded(lambda: hosts_cmds.remove_saved(config_dir, name))
