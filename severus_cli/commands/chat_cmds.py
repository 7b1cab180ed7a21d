"""``severus host``, ``join`` and ``send``: parse options, start the runtime, report."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import re
import sys
import time
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from severus_cli.core.config import resolve_config_dir
from severus_cli.core.host import HostConfig
from severus_cli.core.identity import Identity, load_or_create_identity, parse_fingerprint
from severus_cli.core.packets import MAX_SHORT, valid_nick
from severus_cli.errors import UsageError
from severus_cli.net.trust_gate import HostPolicy, NewHostPending

MAX_MOTD = MAX_SHORT * 4


def _console(stderr: bool = False) -> Console:
    from severus_cli.ui.render import make_console

    return make_console(sys.stderr if stderr else sys.stdout)


def _nick(nick: str | None) -> str:
    if nick is None:
        try:
            guess = re.sub(r"[^A-Za-z0-9_.\-]", "", getpass.getuser())[:32]
        except (KeyError, OSError):
            guess = ""
        nick = guess or "anon"
    if not valid_nick(nick):
        raise UsageError(f"invalid nick {nick!r}: use 1-32 of letters, digits, _ . -")
    return nick


def _identity(config_dir: Path | None) -> tuple[Path, Identity]:
    directory = resolve_config_dir(config_dir)
    identity, created = load_or_create_identity(directory)
    if created:
        _console(stderr=True).print(
            Text(f"Created a new identity in {directory} ({identity.fingerprint})", style="dim")
        )
    return directory, identity


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a session; Ctrl-C simply ends it."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(coroutine)


def host(
    config_dir: Path | None,
    *,
    port: int,
    bind: str | None,
    nick: str | None,
    limits: HostConfig,
) -> None:
    from severus_cli.core.client import ClientCore
    from severus_cli.core.identity import tls_paths
    from severus_cli.runtime.addresses import join_address, reachable_addresses
    from severus_cli.runtime.host_runner import HostOptions, run_host_chat, start_host
    from severus_cli.ui.terminal import make_ui

    own = _nick(nick)
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range")
    directory, identity = _identity(config_dir)
    cert_file, key_file = tls_paths(directory)
    if len(limits.motd) > MAX_MOTD:
        raise UsageError(f"--motd is limited to {MAX_MOTD} characters")
    options = HostOptions(port, bind, own, replace(limits, host_nick=own))

    async def main() -> None:
        console = _console()
        logs: list[str] = []
        host_loop, server = await start_host(
            identity, str(cert_file), str(key_file), options, logs.append
        )
        bound_port = server.sockets[0].getsockname()[1] if server.sockets else port
        console.print(Text("Severus host is listening on:", style="bold"))
        for address in reachable_addresses(bind):
            console.print(Text(f"  {join_address(address, bound_port)}"))
        console.print(Text("Identity fingerprint:    ") + Text(identity.fingerprint, "bold"))
        console.print(Text(f"Certificate fingerprint: {identity.cert_fingerprint}"))
        console.print(
            Text(f"Friends join with: severus join HOST:{bound_port} --nick NAME", style="dim")
        )
        core = ClientCore(own, time.time())
        ui = make_ui(
            False,
            own_nick=lambda: own,
            nicks=lambda: host_loop.core.members("lobby"),
            prompt=lambda: f"[{core.current_room}] {core.nick}> ",
        )
        try:
            await run_host_chat(identity, host_loop, server, core, ui, ui.read_lines())
        finally:
            ui.close()

    _run(main())


def _policy(directory: Path, key: str, accept_new: bool, expected: str | None) -> HostPolicy:
    return HostPolicy(directory, key, accept_new, parse_fingerprint(expected) if expected else None)


async def _ask_trust(pending: NewHostPending) -> bool:
    """Ask on the terminal whether to trust a new host; only called with a TTY."""
    err = _console(stderr=True)
    err.print(Text(pending.message))
    answer = await asyncio.to_thread(
        input, "Are you sure you want to trust it and connect (yes/no)? "
    )
    return answer.strip().casefold() in ("y", "yes")


def join(
    config_dir: Path | None,
    target: str,
    *,
    nick: str | None,
    accept_new: bool,
    expected: str | None,
    json_out: bool,
) -> None:
    from severus_cli.runtime.connect import split_host
    from severus_cli.runtime.join_runner import run_join

    own = _nick(nick)
    key, host_name, port = split_host(target)
    directory, identity = _identity(config_dir)
    policy = _policy(directory, key, accept_new, expected)
    interactive = sys.stdin.isatty() and not json_out
    _run(
        run_join(
            identity, policy, host_name, port, own, json_out, _ask_trust if interactive else None
        )
    )


def send(
    config_dir: Path | None,
    target: str,
    *,
    nick: str | None,
    to: str | None,
    room: str | None,
    whole: bool,
    accept_new: bool,
    expected: str | None,
) -> None:
    from severus_cli.runtime.connect import split_host
    from severus_cli.runtime.send_runner import SendOptions, check_send_options, run_send

    check_send_options(to, room)
    own = _nick(nick)
    if to is not None and not valid_nick(to):
        raise UsageError(f"invalid nick for --to: {to!r}")
    if room is not None and not valid_nick(room.removeprefix("#")):
        raise UsageError(f"invalid room name: {room!r}")
    key, host_name, port = split_host(target)
    directory, identity = _identity(config_dir)
    policy = _policy(directory, key, accept_new, expected)
    options = SendOptions(
        target, host_name, port, own, to, room.removeprefix("#") if room else None, whole
    )
    asyncio.run(run_send(identity, policy, options))
