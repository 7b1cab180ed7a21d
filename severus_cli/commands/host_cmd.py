"""``severus host``: listen, show how to join, then chat as the host's participant."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.text import Text

from severus_cli.commands.common import console, identity_in, nick_or_login, run_session
from severus_cli.core.host import HostConfig
from severus_cli.core.packets import MAX_SHORT
from severus_cli.errors import UsageError

MAX_MOTD = MAX_SHORT * 4


def host(
    config_dir: Path | None,
    *,
    port: int,
    bind: str | None,
    nick: str | None,
    limits: HostConfig,
    mode: str,
    chat: bool = True,
    allow: Path | None = None,
    secret: bool = False,
    secret_file: str | None = None,
    relay: str | None = None,
    stun: str | None = None,
) -> None:
    from severus_cli.commands.join_cmds import hostport_option
    from severus_cli.commands.secret import SECRET_ENV, join_secret
    from severus_cli.core.events import Notice
    from severus_cli.core.identity import tls_paths
    from severus_cli.core.moderation import load_allow_list
    from severus_cli.core.ticket import encode_ticket
    from severus_cli.runtime.addresses import join_address, reachable_addresses
    from severus_cli.runtime.host_relay import StatusLog, start_relay_agent
    from severus_cli.runtime.host_runner import (
        HostOptions,
        host_ticket,
        run_host_chat,
        serve_only,
        start_host,
    )
    from severus_cli.runtime.participant_factory import new_core
    from severus_cli.ui.terminal import make_ui

    own = nick_or_login(nick)
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range")
    if len(limits.motd) > MAX_MOTD:
        raise UsageError(f"--motd is limited to {MAX_MOTD} characters")
    if allow is not None:
        limits = replace(limits, allow=load_allow_list(allow))
    join_key, generated = join_secret(secret, secret_file, generate=True)
    directory, identity = identity_in(config_dir)
    cert_file, key_file = tls_paths(directory)
    options = HostOptions(
        port, bind, own, replace(limits, host_nick=own if chat else ""), mode, join_key
    )
    options.relay = hostport_option("--relay", relay)
    options.stun = hostport_option("--stun", stun)
    if options.stun and mode != "quic":
        raise UsageError("--stun finds a public UDP endpoint: it needs --mode quic")

    async def main() -> None:
        out = console()
        log = _log_line if not chat else lambda text: None
        host_loop, listener = await start_host(identity, cert_file, key_file, options, log)
        ticket = encode_ticket(host_ticket(identity, listener, bind, join_key, options.relay))
        relay_log = StatusLog(None if chat else log)  # in a chat: shown once the screen is up
        _relay_task = start_relay_agent(  # kept referenced while the host runs
            identity, host_loop, listener, options, tls_paths(directory), relay_log
        )
        kind = "QUIC (UDP)" if mode == "quic" else "direct (TCP + TLS)"
        out.print(Text(f"Severus host, {kind}, listening on:", style="bold"))
        for address in reachable_addresses(bind):
            out.print(Text(f"  {join_address(address, listener.port)}"))
        out.print(Text("Identity fingerprint:    ") + Text(identity.fingerprint, "bold"))
        out.print(Text(f"Certificate fingerprint: {identity.cert_fingerprint}"))
        out.print(Text("Ticket (carries the keys, so joining needs no trust question):"))
        out.print(Text(ticket, style="bold"), soft_wrap=True)
        out.print(Text("Friends join with:", style="dim"))
        out.print(Text(f"  severus join {ticket} --nick NAME"), soft_wrap=True)
        if join_key is not None:
            how = f"{SECRET_ENV}=... severus join ADDRESS --secret"
            out.print(Text(f"Join secret required (the ticket carries it; by address: {how})"))
            if generated:  # made up here (urlsafe base64): whoever joins by address needs it
                made = f"Generated join secret: {join_key.decode('ascii')}"
                out.print(Text(made, style="bold"), soft_wrap=True)
        if options.relay:
            out.print(Text(f"Relay: {options.relay} (joiners behind NAT come through it)"))
        if limits.allow is not None:
            count = len(limits.allow)
            out.print(Text(f"Invite-only: {count} key{'s' if count != 1 else ''} allowed"))
        if not chat:
            out.print(
                Text(
                    "Serving without a chat participant: the host reads nothing. Ctrl-C stops it.",
                    style="dim",
                )
            )
            await serve_only(host_loop, listener)
            return
        core = new_core(identity, own, None)
        ui = make_ui(
            False,
            own_nick=lambda: core.nick,
            nicks=lambda: core.roster.nicks.values(),
            rooms=lambda: core.rooms.values(),
            prompt=lambda: f"[{core.current_room}] {core.nick}> ",
        )
        relay_log.attach(lambda text: ui.show_event(Notice(time.time(), text)))
        try:
            await run_host_chat(identity, host_loop, listener, core, ui, ui.read_lines())
        finally:
            ui.close()

    run_session(main())


def _log_line(text: str) -> None:
    """What a host without a participant shows: who comes and goes, never content."""
    global _LOG_LINES
    if _LOG_LINES is None:
        from severus_cli.ui.oplog import LogLines
        from severus_cli.ui.render import hhmm

        _LOG_LINES = LogLines(lambda: hhmm(time.time()), dim=True)
    _LOG_LINES(text)


_LOG_LINES: Callable[[str], None] | None = None
