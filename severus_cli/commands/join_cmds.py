"""``severus join`` and ``severus send``: find the host (address or ticket), connect."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from rich.text import Text

from severus_cli.commands.common import console, identity_in, nick_or_login, run, run_session
from severus_cli.commands.secret import join_secret, read_line_unbuffered
from severus_cli.core.identity import parse_fingerprint
from severus_cli.core.packets import valid_nick
from severus_cli.errors import UsageError
from severus_cli.net.trust_gate import NewHostPending

TICKET_ENV = "SEVERUS_TICKET"


def target_or_ticket(target: str | None, stdin_allowed: bool) -> str:
    """The host to join: the argument, ``-`` for a ticket on stdin, or $SEVERUS_TICKET.

    Tickets can stay off the command line, where ``ps`` would show them to everyone.
    """
    if target == "-":
        if not stdin_allowed:
            raise UsageError("send reads messages from stdin; put the ticket in $SEVERUS_TICKET")
        target = read_line_unbuffered().strip()
    elif target is None:
        target = os.environ.get(TICKET_ENV, "").strip()
        if not target:
            raise UsageError(f"give HOST[:PORT] or a ticket, or set ${TICKET_ENV}")
    if not target:
        raise UsageError("no ticket on stdin")
    return target


async def _ask_trust(pending: NewHostPending) -> bool:
    """Ask on the terminal whether to trust a new host; only called with a TTY."""
    console(stderr=True).print(Text(pending.message))
    answer = await asyncio.to_thread(
        input, "Are you sure you want to trust it and connect (yes/no)? "
    )
    return answer.strip().casefold() in ("y", "yes")


def join(
    config_dir: Path | None,
    target: str | None,
    *,
    nick: str | None,
    accept_new: bool,
    expected: str | None,
    json_out: bool,
    mode: str | None,
    secret: bool = False,
    secret_file: str | None = None,
    stun: str | None = None,
) -> None:
    from severus_cli.runtime.connect import resolve_target
    from severus_cli.runtime.join_runner import run_join

    own = nick_or_login(nick)
    if target == "-" and secret_file == "-":
        raise UsageError("stdin can carry the ticket (which has the secret) or the secret")
    text = target_or_ticket(target, stdin_allowed=True)
    given, _ = join_secret(secret, secret_file)
    fingerprint = parse_fingerprint(expected) if expected else None
    directory, identity = identity_in(config_dir)
    endpoints, policy = resolve_target(
        text, mode, directory, accept_new, fingerprint, hostport_option("--stun", stun)
    )
    policy.secret = given or policy.secret
    interactive = sys.stdin.isatty() and not json_out
    run_session(
        run_join(identity, endpoints, policy, own, json_out, _ask_trust if interactive else None)
    )


def send(
    config_dir: Path | None,
    target: str | None,
    *,
    nick: str | None,
    to: str | None,
    room: str | None,
    whole: bool,
    accept_new: bool,
    expected: str | None,
    mode: str | None,
    secret: bool = False,
    secret_file: str | None = None,
) -> None:
    from severus_cli.runtime.connect import resolve_target
    from severus_cli.runtime.send_runner import SendOptions, run_send

    if to and room:
        raise UsageError("use --to or --room, not both")
    own = nick_or_login(nick)
    if to is not None and not valid_nick(to.removeprefix("@")):
        raise UsageError(f"invalid nick for --to: {to!r}")
    if room is not None and not valid_nick(room.removeprefix("#")):
        raise UsageError(f"invalid room name: {room!r}")
    text = target_or_ticket(target, stdin_allowed=False)
    given, _ = join_secret(secret, secret_file, stdin_allowed=False)
    fingerprint = parse_fingerprint(expected) if expected else None
    directory, identity = identity_in(config_dir)
    endpoints, policy = resolve_target(text, mode, directory, accept_new, fingerprint)
    policy.secret = given or policy.secret
    options = SendOptions(
        own,
        to.removeprefix("@") if to else None,
        room.removeprefix("#") if room else None,
        whole,
    )
    run(run_send(identity, endpoints, policy, options))


def hostport_option(option: str, value: str | None) -> str | None:
    """Check a HOST[:PORT] option early, so a typo is a usage error, not a silent miss."""
    from severus_cli.core.relay_link import parse_hostport

    if value is not None:
        try:
            parse_hostport(value)
        except ValueError as error:
            raise UsageError(f"{option}: {error}") from None
    return value
