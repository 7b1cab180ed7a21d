"""known_peers: the identity key each nick had on each host, to warn when it changes.

``known_peers.json`` in the config dir::

    {"version": 1, "hosts": {"127.0.0.1:3000": {"bob": {"key": "SHA256:...",
      "first_seen": "...Z", "last_seen": "...Z"}}}}

Loaded once per session and checked in memory (a lobby of 200 would otherwise mean 200
file writes); :meth:`KnownPeers.save` merges the changes back under the file lock. A
corrupt file is reported once and then ignored for the session: the warning is worth
less than the chat.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from severus_cli.core.files import atomic_write, locked
from severus_cli.core.identity_format import fingerprint
from severus_cli.core.known_hosts import utc_now_iso
from severus_cli.errors import ConfigError

FILE_NAME = "known_peers.json"
MAX_PEERS_PER_HOST = 10000


def _load(path: Path) -> dict[str, dict[str, dict[str, str]]]:
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as error:
        why = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:120]
        raise ConfigError(f"{path} is unreadable ({why}); delete it to start afresh") from None
    version = raw.get("version") if isinstance(raw, dict) else None
    hosts = raw.get("hosts") if type(version) is int and version == 1 else None
    if not isinstance(hosts, dict):
        raise ConfigError(f"{path} is not a known_peers file; delete it to start afresh")
    clean: dict[str, dict[str, dict[str, str]]] = {}
    for host, peers in hosts.items():
        if not isinstance(peers, dict):
            continue
        clean[str(host)] = {
            str(nick): {
                k: str(v) for k, v in entry.items() if k in ("key", "first_seen", "last_seen")
            }
            for nick, entry in list(peers.items())[:MAX_PEERS_PER_HOST]
            if isinstance(entry, dict) and isinstance(entry.get("key"), str)
        }
    return clean


class KnownPeers:
    """The peers remembered for one host, checked as nicks come and go."""

    def __init__(self, config_dir: Path, host: str) -> None:
        self.path = config_dir / FILE_NAME
        self.host = host
        self.problem: str | None = None
        try:
            self._peers = _load(self.path).get(host, {})
        except ConfigError as error:
            self._peers, self.problem = {}, error.message
        self._changed: dict[str, dict[str, str]] = {}

    def check(self, nick: str, key: bytes) -> str | None:
        """Remember ``nick``'s key; a warning when it differs from last time."""
        folded = nick.casefold()
        key_fp = fingerprint(key)
        now = utc_now_iso()
        known = self._peers.get(folded)
        warning = None
        if known is None:
            entry = {"key": key_fp, "first_seen": now, "last_seen": now}
        elif known["key"] != key_fp:
            warning = (
                f"{nick} has a different key than when last seen here "
                f"({known.get('last_seen', '?')}): was {known['key']}, now {key_fp}. "
                f"It may be someone else using the nick: /verify {nick} before trusting them."
            )
            entry = {"key": key_fp, "first_seen": now, "last_seen": now}
        else:
            entry = {**known, "last_seen": now}
        self._peers[folded] = entry
        self._changed[folded] = entry
        return warning

    def save(self) -> None:
        """Merge what changed into the file (locked, atomic); quiet if it is broken."""
        if not self._changed or self.problem:
            return
        with locked(self.path):
            try:
                hosts = _load(self.path)
            except ConfigError:
                return
            hosts.setdefault(self.host, {}).update(self._changed)
            document: dict[str, Any] = {"version": 1, "hosts": hosts}
            atomic_write(self.path, json.dumps(document, indent=1).encode() + b"\n", 0o600)
        self._changed = {}
