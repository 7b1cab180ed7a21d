"""``severus trust list|add|remove|accept-peer``: look after pinned keys by hand."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from severus_cli.core.store.config import resolve_config_dir
from severus_cli.core.trust import known_hosts
from severus_cli.core.trust.identity import parse_fingerprint
from severus_cli.core.trust.known_hosts import KnownHosts
from severus_cli.core.trust.tofu import normalise_host
from severus_cli.errors import TrustError, UsageError


def list_hosts(config_dir: Path | None, *, json_out: bool) -> None:
    """Show every pin; --json gives a list of objects, sorted by host."""
    store = KnownHosts.load(resolve_config_dir(config_dir))
    entries = store.entries()
    if json_out:
        rows = [
            {
                "host": host,
                "key": entry.key,
                "cert": entry.cert,
                "first_seen": entry.first_seen,
                "last_seen": entry.last_seen,
            }
            for host, entry in entries.items()
        ]
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    out = Console(highlight=False, soft_wrap=True)
    if not entries:
        out.print(Text(f"No pinned hosts in {store.path}."))
        return
    out.print(Text(str(store.path)))
    table = [("Host", "Identity key", "TLS certificate", "First seen", "Last seen")]
    table += [
        (host, entry.key, entry.cert or "-", entry.first_seen, entry.last_seen)
        for host, entry in entries.items()
    ]
    for line in aligned(table):
        out.print(Text(line))


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines in aligned columns, never wrapped or cut: a fingerprint or host
    name split over two lines cannot be copied or compared, whatever the width."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


NO_CERT_NOTE = (
    "No certificate is pinned yet: with a join secret, the first join sends a message "
    "that depends on the secret before anything checks the host (later joins check the "
    "certificate it pins). To check it from the first join, add --cert SHA256:..., the "
    "certificate fingerprint `severus fingerprint` shows on the host."
)


def add_host(config_dir: Path | None, host: str, key: str, cert: str | None = None) -> None:
    """Pin a key checked out of band; refuses (exit 4) if another key is pinned.

    ``cert`` (the host's certificate fingerprint) is pinned too, so that a join with a
    join secret checks the certificate before its first message, which depends on the
    secret. Without it, the first join sends that message unchecked and pins the
    certificate it meets (as a first join by address does): the output says so."""
    address = normalise_host(host)
    key_fp = parse_fingerprint(key)
    cert_fp = parse_fingerprint(cert) if cert is not None else None
    if cert_fp == key_fp:
        raise UsageError("--cert is the certificate fingerprint, not the identity one")
    directory = resolve_config_dir(config_dir)
    added = known_hosts.pin(directory, address, key_fp, cert_fp, known_hosts.utc_now_iso())
    verb = "Pinned" if added else "Already pinned:"
    with_cert = f" with certificate {cert_fp}" if cert_fp else ""
    out = Console(highlight=False, soft_wrap=True)
    out.print(Text(f"{verb} {address} to {key_fp}{with_cert}."))
    if cert_fp is None:
        entry = KnownHosts.load(directory).get(address)
        if entry is not None and entry.cert is None:
            out.print(Text(NO_CERT_NOTE))


def remove_host(config_dir: Path | None, host: str) -> None:
    """Forget a pin; exit 2 if the host was not pinned (likely a typo)."""
    address = normalise_host(host)
    directory = resolve_config_dir(config_dir)
    if not known_hosts.remove(directory, address):
        raise UsageError(f"{address} is not in known_hosts ({directory / known_hosts.FILE_NAME})")
    out = Console(highlight=False, soft_wrap=True)
    out.print(Text(f"Removed {address} from {directory / known_hosts.FILE_NAME}."))


def peer_host_label(host: str, config_dir: Path | None = None) -> str:
    """known_peers names a host by its identity key, ``key SHA256:...``: given as
    ``SHA256:...``, or as ``HOST:PORT``, which names the key known_hosts (in
    ``config_dir``) pins there. An address pinned to no key keeps its own name (pins
    filed by address before hosts were named by key)."""
    if host.strip().upper().startswith("SHA256:"):
        return f"key {parse_fingerprint(host)}"
    address = normalise_host(host)
    pinned = KnownHosts.load(config_dir).get(address) if config_dir is not None else None
    return f"key {pinned.key}" if pinned is not None else address


def accept_peer(config_dir: Path | None, host: str, nick: str, key: str | None) -> None:
    """Replace a participant's pinned key: with ``key``, or the changed key last offered
    once the user, shown both fingerprints on a terminal, says yes. A script must name
    the key it accepts: without one, stdin not a terminal is a usage error naming both,
    so no script accepts whatever a host last offered."""
    from severus_cli.core.trust import known_peers
    from severus_cli.core.wire.packets import valid_nick

    nick = nick.removeprefix("@")
    if not valid_nick(nick):
        raise UsageError(f"not a valid nick: {nick[:40]!r}")
    key_fp = parse_fingerprint(key) if key is not None else None
    directory = resolve_config_dir(config_dir)
    label = peer_host_label(host, directory)
    if key_fp is None:
        known = known_peers.pinned_entry(directory, label, nick)
        if known is None or "offered" not in known:
            raise known_peers.nothing_offered(directory / known_peers.FILE_NAME, host, nick, known)
        key_fp = _confirm_offered(host, nick, known["key"], known["offered"])
    old, new = known_peers.accept_peer(directory, label, nick, key_fp)
    out = Console(highlight=False, soft_wrap=True)
    if old == new:
        out.print(Text(f"Already trusted: {nick} on {host} is {new}."))
    else:
        was = f" (was {old})" if old else ""
        out.print(Text(f"Trusted {nick} on {host} as {new}{was}."))


ACCEPT_QUESTION = "Accept the new key (yes/no)? "
ACCEPT_AGAIN = "Please type 'yes', 'no' or the new fingerprint: "


def _confirm_offered(host: str, nick: str, pinned: str, offered: str) -> str:
    """The offered key once the user accepts it on a terminal; else TrustError (exit 4).

    End of input refuses; Ctrl-C reaches ``run_guarded`` (exit 130); nothing is written."""
    from severus_cli.commands.join_cmds import trust_answer

    both = f"{nick} on {host} is pinned to {pinned}; the host now gives {offered}."
    if not sys.stdin.isatty():
        raise UsageError(
            f"{both} Not accepted: without a terminal, name the key you accept (after "
            f"comparing /verify {nick} with {nick}): "
            f"severus trust accept-peer {host} {nick} SHA256:..."
        )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    err.print(Text(f"{nick}'s identity key on {host} has changed."))
    err.print(Text(f"    pinned:   {pinned}\n    offered:  {offered}"))
    err.print(Text(f"Accept it only if /verify {nick} showed the code {nick} reads out to you."))
    prompt = ACCEPT_QUESTION
    while True:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        verdict = trust_answer(line, offered) if line else False
        if verdict is True:
            return offered
        if verdict is False:
            raise TrustError(f"not accepted: {nick} on {host} stays pinned to {pinned}")
        prompt = ACCEPT_AGAIN
