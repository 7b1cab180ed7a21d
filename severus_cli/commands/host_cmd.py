"""``severus host``: listen, show how to join, then chat as the host's participant."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from severus_cli.commands.common import (
    console,
    end_if_interrupted,
    identity_in,
    nick_or_login,
    run_session,
)
from severus_cli.core.host.core import HostConfig
from severus_cli.core.wire.packets import MAX_SHORT
from severus_cli.errors import Interrupted, UsageError

if TYPE_CHECKING:
    from severus_cli.runtime.portmap import PortMapper

MAX_MOTD = MAX_SHORT * 4


def host(
    config_dir: Path | None,
    *,
    port: int,
    bind: str | None,
    nick: str | None,
    limits: HostConfig,
    mode: str | None,
    chat: bool = True,
    allow: Path | None = None,
    secret: bool = False,
    secret_file: str | None = None,
    relay: str | None = None,
    stun: str | None = None,
    map_port: bool = True,
) -> None:
    from severus_cli.commands.join_cmds import hostport_option
    from severus_cli.commands.secret import SECRET_ENV, join_secret
    from severus_cli.core.client.events import Notice
    from severus_cli.core.host.moderation import load_allow_list
    from severus_cli.core.store.config import resolve_config_dir
    from severus_cli.core.store.settings import load_settings
    from severus_cli.core.trust.identity import tls_paths
    from severus_cli.runtime.addresses import join_address, reachable_addresses, with_external
    from severus_cli.runtime.host_relay import StatusLog, start_relay_agent
    from severus_cli.runtime.host_runner import (
        HostOptions,
        host_ticket,
        run_host_chat,
        serve_only,
        start_host,
    )
    from severus_cli.runtime.participant_factory import known_peers_for, new_core, own_host_label
    from severus_cli.runtime.ticket_notes import HostTicket
    from severus_cli.ui.terminal import make_ui

    settings = load_settings(resolve_config_dir(config_dir))
    own = nick_or_login(nick or settings.nick)
    mode = mode or settings.mode or "direct"
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

    async def main(mapping: PortMapper | None) -> None:
        out = console()
        log = _log_line if not chat else lambda text: None
        host_loop, listener = await start_host(identity, cert_file, key_file, options, log)
        own_ticket = host_ticket(identity, listener, bind, join_key, options.relay)
        mapped_at = None
        if mapping is not None and mapping.mapped is not None:  # asked while we started
            found = mapping.mapped
            own_ticket = with_external(own_ticket, listener.transport, found.external, found.port)
            mapped_at = (found.external, found.port)
        current = HostTicket(own_ticket, listener.transport, mapped_at)
        ticket = current.text
        relay_log = StatusLog(None if chat else log)  # in a chat: shown once the screen is up
        if mapping is not None:
            mapping.log = relay_log  # a renewal that failed or moved: logged, or in the chat
            mapping.on_move = lambda found: relay_log(current.moved(found.external, found.port))
        _relay_task = start_relay_agent(  # kept referenced while the host runs
            identity, host_loop, listener, options, tls_paths(directory), relay_log
        )
        kind = "QUIC (UDP)" if mode == "quic" else "direct (TCP + TLS)"
        out.print(Text(f"Severus host, {kind}, listening on:", style="bold"))
        for address in reachable_addresses(bind):
            out.print(Text(f"  {join_address(address, listener.port)}"))
        for line in mapping.describe() if mapping is not None else ():
            out.print(Text(line, style="" if mapping and mapping.mapped else "dim"))
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
            serving = Text(
                "Serving without a chat participant: the host reads nothing. Ctrl-C stops it.",
                style="dim",
            )
            if await serve_only(host_loop, listener, lambda: out.print(serving)) == signal.SIGINT:
                raise Interrupted()  # SIGTERM is how a service manager stops it: 0
            return
        peers = known_peers_for(directory, own_host_label(identity))
        core = new_core(identity, own, peers)
        ui = make_ui(
            False,
            own_nick=lambda: core.nick,
            nicks=lambda: core.roster.nicks.values(),
            rooms=lambda: core.rooms.values(),
            prompt=lambda: f"[{core.current_room}] {core.nick}> ",
        )
        if peers.problem:  # as for a joiner: say that nobody's key is checked
            warning = f"known peers are not checked this time: {peers.problem}"
            ui.show_event(Notice(time.time(), warning, "warn"))
        relay_log.attach(lambda text: ui.show_event(Notice(time.time(), text)))
        ended: list[bool] = []
        try:
            lines = _until_end(ui.read_lines(), ended)
            await run_host_chat(identity, host_loop, listener, core, ui, lines, ticket=current)
        finally:
            ui.close()
            peers.save()
        end_if_interrupted(ui)
        if ended and not sys.stdin.isatty():
            console(stderr=True).print(Text(NO_INPUT_HINT), soft_wrap=True)

    from severus_cli.runtime.addresses import worth_mapping
    from severus_cli.runtime.portmap import run_mapped  # lazy, like every import here

    wanted = map_port and worth_mapping(bind)
    run_session(run_mapped("udp" if mode == "quic" else "tcp", port, wanted, main))


NO_INPUT_HINT = (
    "severus: the host stopped because its chat input (stdin) ended. To serve with no "
    "chat, from a script or a service, run: severus host --no-chat"
)


async def _until_end(lines: AsyncIterator[str], ended: list[bool]) -> AsyncIterator[str]:
    """``lines``, noting in ``ended`` when they run out (rather than a /quit): a host
    started with stdin at end of file would otherwise stop at once, saying nothing."""
    async for line in lines:
        yield line
    ended.append(True)


def _log_line(text: str) -> None:
    """What a host without a participant shows: who comes and goes, never content."""
    global _LOG_LINES
    if _LOG_LINES is None:
        from severus_cli.ui.oplog import LogLines
        from severus_cli.ui.render import hhmm

        _LOG_LINES = LogLines(lambda: hhmm(time.time()), dim=True)
    _LOG_LINES(text)


_LOG_LINES: Callable[[str], None] | None = None
