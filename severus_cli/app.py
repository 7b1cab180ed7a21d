"""The ``severus`` command line. Command bodies import their implementation lazily so
``severus --help`` stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from severus_cli.commands.errors import run_guarded

app = typer.Typer(
    name="severus",
    help="A self-hosted, private, peer-to-peer messenger for the terminal.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
trust_app = typer.Typer(help="Manage pinned host keys (known_hosts).", no_args_is_help=True)
app.add_typer(trust_app, name="trust")

ConfigDir = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        envvar="SEVERUS_CONFIG_DIR",
        help="Where keys and known_hosts live (default: the platform's config dir).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@app.command()
def keygen(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing identity.")] = False,
    config_dir: ConfigDir = None,
    json_out: Json = False,
) -> None:
    """Create this install's identity: a Noise key and a TLS certificate."""
    from severus_cli.commands import identity_cmds

    run_guarded(lambda: identity_cmds.keygen(config_dir, force=force, json_out=json_out))


@app.command()
def fingerprint(config_dir: ConfigDir = None, json_out: Json = False) -> None:
    """Show this install's identity and certificate fingerprints."""
    from severus_cli.commands import identity_cmds

    run_guarded(lambda: identity_cmds.fingerprint(config_dir, json_out=json_out))


@trust_app.command("list")
def trust_list(config_dir: ConfigDir = None, json_out: Json = False) -> None:
    """List pinned hosts."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.list_hosts(config_dir, json_out=json_out))


@trust_app.command("add")
def trust_add(
    host: Annotated[str, typer.Argument(help="HOST:PORT")],
    key: Annotated[str, typer.Argument(help="The host's identity fingerprint, SHA256:...")],
    config_dir: ConfigDir = None,
) -> None:
    """Pin a host's identity fingerprint, verified out of band."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.add_host(config_dir, host, key))


@trust_app.command("remove")
def trust_remove(
    host: Annotated[str, typer.Argument(help="HOST:PORT")],
    config_dir: ConfigDir = None,
) -> None:
    """Forget a pinned host (after it really changed its key)."""
    from severus_cli.commands import trust_cmds

    run_guarded(lambda: trust_cmds.remove_host(config_dir, host))
