"""The ``severus`` command line. Command bodies import their implementation lazily so
``severus --help`` stays fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from severus_cli.commands.errors import run_guarded
from severus_cli.commands.hosts_app import hosts_app
from severus_cli.commands.options import (
    CONFIG_DIR_ENV,
    AcceptNew,
    ConfigDir,
    ExpectedFingerprint,
    Json,
    Mode,
    ModeOption,
    Nick,
    RelayAddress,
    Secret,
    SecretFile,
    Stun,
    Target,
)
from severus_cli.commands.trust_app import trust_app

app = typer.Typer(
    name="severus",
    help="A self-hosted, private, peer-to-peer messenger for the terminal.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # subcommands inherit it
)
app.add_typer(trust_app, name="trust")
app.add_typer(hosts_app, name="hosts")


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("severus")
        except PackageNotFoundError:
            number = "unknown"
        core = ""
        if os.environ.get("SEVERUS_COMPILED"):  # the opt-in mypyc build: is it in use?
            from severus_cli._compiled import in_use

            core = " (compiled core)" if in_use() else " (pure Python)"
        typer.echo(f"severus {number}{core}")
        raise typer.Exit()


@app.callback()
def _global_options(
    config_dir: ConfigDir = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Options every command has also work before the command (``severus --config-dir X
    fingerprint``, as ``ssh -F`` or ``git -C``). The group's options are parsed before
    the command's, so passing the value on through the command's own environment
    variable makes it the default there, while a --config-dir after the command still
    wins."""
    if config_dir is not None:
        os.environ[CONFIG_DIR_ENV] = str(config_dir)


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


@app.command()
def host(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port to listen on.")] = 3000,
    bind: Annotated[
        str | None, typer.Option("--bind", help="Address to listen on (default: all).")
    ] = None,
    nick: Nick = None,
    max_clients: Annotated[
        int,
        # At most what a client keeps track of (MAX_ROSTER in core/client/roster.py).
        typer.Option("--max-clients", help="Most participants at once.", min=1, max=4096),
    ] = 256,
    max_rooms: Annotated[int, typer.Option("--max-rooms", help="Most rooms at once.", min=1)] = 256,
    max_rooms_per_user: Annotated[
        int,
        typer.Option(
            "--max-rooms-per-user",
            help="Most rooms one participant may be in at once, besides the lobby.",
            min=1,
        ),
    ] = 16,
    max_rooms_per_ip: Annotated[
        int | None,
        typer.Option(
            "--max-rooms-per-ip",
            help="Most rooms one address may have created and still be in, or be alone in "
            "(default: --max-rooms / 8; 0: no cap).",
            min=0,
            show_default=False,
        ),
    ] = None,
    handshake_timeout: Annotated[
        float,
        typer.Option(
            "--handshake-timeout", help="Seconds to finish TLS, Noise and hello.", min=0.1
        ),
    ] = 10.0,
    idle_timeout: Annotated[
        float,
        typer.Option("--idle-timeout", help="Seconds of silence before a peer is dropped.", min=1),
    ] = 30.0,
    motd: Annotated[str, typer.Option("--motd", help="Message of the day for joiners.")] = "",
    rate_limit: Annotated[
        float,
        typer.Option(
            "--rate-limit",
            help="Messages per second each participant may send after a burst of 3x that "
            "(0: no message or byte limit, for benchmarks).",
            min=0,
        ),
    ] = 10.0,
    mode: Annotated[
        Mode | None,
        typer.Option(
            "--mode",
            help="direct: TCP + TLS; quic: QUIC over UDP (default: config.toml's, or direct).",
        ),
    ] = None,
    no_chat: Annotated[
        bool,
        typer.Option("--no-chat", help="Only relay for others; the host reads nothing."),
    ] = False,
    max_per_ip: Annotated[
        int,
        typer.Option(
            "--max-per-ip", help="Most connections at once from one address (0: no cap).", min=0
        ),
    ] = 16,
    max_joins_per_ip: Annotated[
        int,
        typer.Option(
            "--max-joins-per-ip",
            help="New participants from one address at once, then one per 2 s (0: no limit).",
            min=0,
        ),
    ] = 10,
    max_frame: Annotated[
        int,
        typer.Option(
            "--max-frame", help="Largest frame a participant may send, bytes.", min=1024, max=65535
        ),
    ] = 65535,
    max_message: Annotated[
        int,
        typer.Option(
            "--max-message",
            help="Largest message (encrypted body) a participant may send, bytes.",
            min=1024,
            max=65000,
        ),
    ] = 65000,
    max_backlog: Annotated[
        int,
        typer.Option(
            "--max-backlog",
            help="Unsent bytes for one participant before it is dropped as too slow.",
            min=65536,
        ),
    ] = 1 << 20,
    allow: Annotated[
        Path | None,
        typer.Option(
            "--allow",
            help="Invite-only: let in only the fingerprints listed in FILE, one per line.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    secret: Secret = False,
    secret_file: SecretFile = None,
    relay: RelayAddress = None,
    stun: Stun = None,
    map_port: Annotated[
        bool,
        typer.Option(
            "--map/--no-map",
            help="Ask the router (PCP, NAT-PMP, UPnP) to forward the port while hosting.",
        ),
    ] = True,
    config_dir: ConfigDir = None,
) -> None:
    """Host a chat that friends join with `severus join ADDRESS` or the printed ticket."""
    from severus_cli.commands import host_cmd
    from severus_cli.core.host.core import UNLIMITED_RATE, HostConfig

    limits = HostConfig(
        max_clients=max_clients,
        max_rooms=max_rooms,
        max_rooms_per_user=max_rooms_per_user,
        max_rooms_per_ip=max_rooms_per_ip,
        handshake_timeout=handshake_timeout,
        idle_timeout=idle_timeout,
        motd=motd,
        rate_per_second=rate_limit or UNLIMITED_RATE,
        rate_burst=3 * rate_limit if rate_limit else UNLIMITED_RATE,
        max_per_ip=max_per_ip,
        registration_burst=float(max_joins_per_ip),
        max_frame=max_frame,
        max_data=max_message,
        max_backlog=max_backlog,
    )
    run_guarded(
        lambda: host_cmd.host(
            config_dir,
            port=port,
            bind=bind,
            nick=nick,
            limits=limits,
            mode=mode.value if mode else None,
            chat=not no_chat,
            allow=allow,
            secret=secret,
            secret_file=secret_file,
            relay=relay,
            stun=stun,
            map_port=map_port,
        )
    )


@app.command()
def join(
    target: Target = None,
    nick: Nick = None,
    accept_new: AcceptNew = False,
    fingerprint: ExpectedFingerprint = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Events as JSON lines; stdin lines are sent.")
    ] = False,
    mode: ModeOption = None,
    secret: Secret = False,
    secret_file: SecretFile = None,
    stun: Stun = None,
    map_port: Annotated[
        bool,
        typer.Option(
            "--map/--no-map",
            help="Ask the router (PCP, NAT-PMP, UPnP) to forward the port punching uses.",
        ),
    ] = True,
    config_dir: ConfigDir = None,
) -> None:
    """Join a host and chat. Reconnects by itself if the host goes away."""
    from severus_cli.commands import join_cmds

    run_guarded(
        lambda: join_cmds.join(
            config_dir,
            target,
            nick=nick,
            accept_new=accept_new,
            expected=fingerprint,
            json_out=json_out,
            mode=mode.value if mode else None,
            secret=secret,
            secret_file=secret_file,
            stun=stun,
            map_port=map_port,
        )
    )


@app.command()
def send(
    target: Target = None,
    nick: Nick = None,
    to: Annotated[str | None, typer.Option("--to", help="Send privately to this nick.")] = None,
    room: Annotated[str | None, typer.Option("--room", help="Send to this room.")] = None,
    whole: Annotated[
        bool, typer.Option("--whole", help="Send all of stdin as one message.")
    ] = False,
    accept_new: AcceptNew = False,
    fingerprint: ExpectedFingerprint = None,
    peer: Annotated[
        list[str] | None,
        typer.Option(
            "--peer",
            help="NICK=SHA256:... trust only this key for NICK (repeatable); exit 4 otherwise.",
        ),
    ] = None,
    mode: ModeOption = None,
    secret: Secret = False,
    secret_file: SecretFile = None,
    config_dir: ConfigDir = None,
) -> None:
    """Send stdin to a host, one message per line; exit 0 once all are acknowledged."""
    from severus_cli.commands import join_cmds

    run_guarded(
        lambda: join_cmds.send(
            config_dir,
            target,
            nick=nick,
            to=to,
            room=room,
            whole=whole,
            accept_new=accept_new,
            expected=fingerprint,
            mode=mode.value if mode else None,
            secret=secret,
            secret_file=secret_file,
            peers=peer or [],
        )
    )


@app.command()
def relay(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP and UDP port.")] = 3340,
    bind: Annotated[
        str | None, typer.Option("--bind", help="Address to listen on (default: all).")
    ] = None,
    max_per_ip: Annotated[
        int,
        typer.Option(
            "--max-per-ip", help="Most connections at once from one address (0: no cap).", min=0
        ),
    ] = 32,
    allow: Annotated[
        Path | None,
        typer.Option(
            "--allow",
            help="Serve only the host fingerprints listed in FILE, one per line.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    bandwidth: Annotated[
        int,
        typer.Option(
            "--bandwidth",
            help="Cap each relayed connection at this many bytes/s each way (0: no cap).",
            min=0,
        ),
    ] = 0,
    handshake_timeout: Annotated[
        float,
        typer.Option(
            "--handshake-timeout", help="Seconds to finish TLS, Noise and a request.", min=0.1
        ),
    ] = 10.0,
    config_dir: ConfigDir = None,
) -> None:
    """Run a relay: hosts behind NAT register with it; it helps joiners punch through,
    and relays (ciphertext only) when no direct path works."""
    from severus_cli.commands import relay_cmd

    run_guarded(
        lambda: relay_cmd.relay(
            config_dir,
            port=port,
            bind=bind,
            max_per_ip=max_per_ip,
            allow=allow,
            bandwidth=bandwidth,
            handshake_timeout=handshake_timeout,
        )
    )
