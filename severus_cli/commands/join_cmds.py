"""``severus join`` and ``severus send``: find the host (address or ticket), connect."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.text import Text

from severus_cli.commands.common import (
    console,
    identity_in,
    nick_or_login,
    read_tty_line,
    run,
    run_session,
)
from severus_cli.commands.secret import join_secret, read_line_unbuffered
from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.store.settings import Choice, choose, load_settings
from severus_cli.core.trust.identity import parse_fingerprint
from severus_cli.core.wire.packets import valid_nick
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


TRUST_QUESTION = "Are you sure you want to trust it and connect (yes/no)? "
TRUST_AGAIN = "Please type 'yes', 'no' or the fingerprint: "


def trust_answer(answer: str, key_fp: str) -> bool | None:
    """What an answer to the trust question means, as OpenSSH reads it: ``yes`` or the
    host's very fingerprint trusts it; ``no`` or nothing refuses; anything else (``y``,
    a typo, another fingerprint) is no answer, so the question is asked again."""
    word = answer.strip()
    if word.casefold() == "yes" or word == key_fp:
        return True
    if word.casefold() in ("", "no"):
        return False
    return None


async def _ask_trust(pending: NewHostPending) -> bool:
    """Ask on the terminal whether to trust a new host; only called with a TTY.
    End of input refuses; Ctrl-C exits 130 at once, pinning nothing."""
    console(stderr=True).print(Text(pending.message))
    prompt = TRUST_QUESTION
    while True:
        answer = await read_tty_line(prompt)
        if answer is None:
            return False
        verdict = trust_answer(answer, pending.key_fp)
        if verdict is not None:
            return verdict
        prompt = TRUST_AGAIN


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
    map_port: bool = True,
) -> None:
    from severus_cli.core.client.routes import with_port_mapping
    from severus_cli.runtime.connect import resolve_target
    from severus_cli.runtime.join_runner import run_join

    chosen = _configured(config_dir, target, nick, mode, expected)
    own = nick_or_login(chosen.nick)
    if chosen.target == "-" and secret_file == "-":
        raise UsageError("stdin can carry the ticket (which has the secret) or the secret")
    text = target_or_ticket(chosen.target, stdin_allowed=True)
    given, _ = join_secret(secret, secret_file)
    fingerprint = parse_fingerprint(chosen.fingerprint) if chosen.fingerprint else None
    directory, identity = identity_in(config_dir)
    endpoints, policy = resolve_target(
        text, chosen.mode, directory, accept_new, fingerprint, hostport_option("--stun", stun)
    )
    policy.secret = given or policy.secret
    if map_port:
        endpoints = with_port_mapping(endpoints)
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
    peers: list[str] | None = None,
) -> None:
    from severus_cli.runtime.connect import resolve_target
    from severus_cli.runtime.send_runner import SendOptions, run_send

    if to and room:
        raise UsageError("use --to or --room, not both")
    chosen = _configured(config_dir, target, nick, mode, expected)
    own = nick_or_login(chosen.nick)
    if to is not None and not valid_nick(to.removeprefix("@")):
        raise UsageError(f"invalid nick for --to: {to!r}")
    if room is not None and not valid_nick(room.removeprefix("#")):
        raise UsageError(f"invalid room name: {room!r}")
    text = target_or_ticket(chosen.target, stdin_allowed=False)
    given, _ = join_secret(secret, secret_file, stdin_allowed=False)
    fingerprint = parse_fingerprint(chosen.fingerprint) if chosen.fingerprint else None
    directory, identity = identity_in(config_dir)
    endpoints, policy = resolve_target(text, chosen.mode, directory, accept_new, fingerprint)
    policy.secret = given or policy.secret
    options = SendOptions(
        own,
        to.removeprefix("@") if to else None,
        room.removeprefix("#") if room else None,
        whole,
        peers=peer_pins(peers or []),
    )
    run(run_send(identity, endpoints, policy, options))


def _configured(
    config_dir: Path | None,
    target: str | None,
    nick: str | None,
    mode: str | None,
    expected: str | None,
) -> Choice:
    """The target and defaults once config.toml had its say (a saved host's name, a
    default nick and mode); the command line's options still win."""
    return choose(load_settings(resolve_config_dir(config_dir)), target, nick, mode, expected)


def peer_pins(values: list[str]) -> dict[str, str]:
    """``--peer NICK=SHA256:...`` options as casefolded nick -> fingerprint."""
    pins: dict[str, str] = {}
    for value in values:
        nick, equals, key = value.partition("=")
        nick = nick.strip().removeprefix("@")
        if not equals or not valid_nick(nick):
            raise UsageError(f"--peer wants NICK=SHA256:..., not {value[:80]!r}")
        key_fp = parse_fingerprint(key)
        if pins.setdefault(nick.casefold(), key_fp) != key_fp:
            raise UsageError(f"--peer gives two keys for {nick}")
    return pins


def hostport_option(option: str, value: str | None) -> str | None:
    """Check a HOST[:PORT] option early, so a typo is a usage error, not a silent miss."""
    from severus_cli.core.nat.relay_link import parse_hostport

    if value is not None:
        try:
            parse_hostport(value)
        except ValueError as error:
            raise UsageError(f"{option}: {error}") from None
    return value
