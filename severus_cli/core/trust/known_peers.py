"""known_peers: the identity key pinned for each nick on each host.

``known_peers.json`` in the config dir::

    {"version": 1, "hosts": {"key SHA256:...": {"bob": {"key": "SHA256:...",
      "first_seen": "...Z", "last_seen": "...Z", "offered": "SHA256:..."}}}}

A host is named by its identity key (``key SHA256:...``), however it was joined, so
one host has one set of pins. Older files also name hosts by address (``HOST:PORT``);
those pins are folded into the key that address is pinned to in known_hosts when a
session or ``severus trust accept-peer`` for that key loads them (see
:func:`merge_addresses`).

``key`` is the pinned key: the first one seen, or one the user accepted. ``offered``,
when present, is a different key the host gave for that nick and the user has not
accepted: the nick is in conflict (see :mod:`severus_cli.core.trust.peer_trust`). A pin is
only ever replaced by an explicit acceptance, never by what a host says.

Loaded once per session and checked in memory (a lobby of 200 would otherwise mean 200
file writes); :meth:`KnownPeers.save` merges the changes back under the file lock. A
corrupt file is reported once and then ignored for the session: the warning is worth
less than the chat. A host can invent nicks without end, so the file is bounded on
save, per host and in total: stale pins (not seen for 90 days) go first, then the
newest pins, so a flood of made-up nicks forgets itself and never the pins made before
it (which the host could then replace as "first sightings"); a nick in conflict is the
last thing forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from severus_cli.core.store.files import atomic_write, locked
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.core.trust.known_hosts import KnownHosts, utc_now_iso
from severus_cli.core.trust.peer_trust import PeerVerdict, judge_peer
from severus_cli.errors import ConfigError, UsageError

FILE_NAME = "known_peers.json"
MAX_PEERS_PER_HOST = 1000
MAX_PEERS_TOTAL = 10000
STALE_AFTER_DAYS = 90  # a pin not seen for this long is the first to be forgotten
FIELDS = ("key", "first_seen", "last_seen", "offered")

Entry = dict[str, str]
Hosts = dict[str, dict[str, Entry]]


def _load(path: Path) -> Hosts:
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
    clean: Hosts = {}
    for host, peers in hosts.items():
        if not isinstance(peers, dict):
            continue
        clean[str(host)] = {
            str(nick).casefold(): {k: str(v) for k, v in entry.items() if k in FIELDS}
            for nick, entry in list(peers.items())[:MAX_PEERS_TOTAL]
            if isinstance(entry, dict) and isinstance(entry.get("key"), str)
        }
    bound(clean)
    return clean


def in_conflict(entry: Entry) -> bool:
    """A different key was offered for this nick and not accepted."""
    return "offered" in entry


def _stale_before(now: str) -> str:
    """The last_seen before which a pin counts as stale (STALE_AFTER_DAYS before ``now``)."""
    try:
        moment = dt.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return ""  # no usable clock: nothing is stale
    return (moment - dt.timedelta(days=STALE_AFTER_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _eviction_order(items: list[tuple[str, str, Entry]], cutoff: str) -> list[tuple[str, str]]:
    """(host, nick) in the order they are forgotten: first pins not seen for
    STALE_AFTER_DAYS (least recently seen first), then the other pins, newest pin first
    (so nicks a host makes up now never push out the pins made before them), and last
    of all nicks in conflict (least recently seen first)."""

    def seen(item: tuple[str, str, Entry]) -> str:
        return item[2].get("last_seen", "")

    pins = [(i, item) for i, item in enumerate(items) if not in_conflict(item[2])]
    stale = sorted((x for x in pins if seen(x[1]) < cutoff), key=lambda x: seen(x[1]))
    fresh = sorted(
        (x for x in pins if seen(x[1]) >= cutoff),
        key=lambda x: (x[1][2].get("first_seen", ""), x[0]),
        reverse=True,
    )
    conflicts = sorted((item for item in items if in_conflict(item[2])), key=seen)
    return [(h, n) for _, (h, n, _) in stale + fresh] + [(h, n) for h, n, _ in conflicts]


def bound(
    hosts: Hosts,
    per_host: int = MAX_PEERS_PER_HOST,
    total: int = MAX_PEERS_TOTAL,
    now: str | None = None,
) -> None:
    """Forget nicks (in place) until every host has at most ``per_host`` and all
    together at most ``total``: stale pins first, then the newest pins, nicks in conflict
    last (see :func:`_eviction_order`). A host inventing nicks therefore forgets its own
    inventions, not the pins it would like to replace; nicks in conflict go only when
    nothing else is left, which per host cannot happen: a conflict needs a pin."""
    cutoff = _stale_before(now or utc_now_iso())
    for host, peers in hosts.items():
        if len(peers) > per_host:
            ranked = _eviction_order([(host, nick, e) for nick, e in peers.items()], cutoff)
            for _, nick in ranked[: len(peers) - per_host]:
                del peers[nick]
    count = sum(len(peers) for peers in hosts.values())
    if count > total:
        every = [(host, nick, e) for host, peers in hosts.items() for nick, e in peers.items()]
        for host, nick in _eviction_order(every, cutoff)[: count - total]:
            del hosts[host][nick]
    for host in [host for host, peers in hosts.items() if not peers]:
        del hosts[host]


def addresses_of(config_dir: Path, label: str) -> list[str]:
    """The addresses known_hosts pins to the key ``label`` names (``key SHA256:...``):
    the names older files may have filed that host's pins under."""
    if not label.startswith("key "):
        return []
    try:
        pins = KnownHosts.load(config_dir).hosts
    except ConfigError:
        return []
    key = label.removeprefix("key ")
    return sorted(host for host, entry in pins.items() if entry.key == key)


def merge_addresses(hosts: Hosts, label: str, addresses: Iterable[str]) -> bool:
    """Fold the pins filed under ``addresses`` into ``label`` (in place); True if any
    were there. A pin never replaces another: where both pin different keys for a nick,
    the one under ``label`` stays and the other becomes its offered key, so the nick is
    in conflict and the user is warned when that key is presented."""
    moved = [peers for peers in (hosts.pop(a, None) for a in addresses) if peers is not None]
    if not moved:
        return False
    into = hosts.setdefault(label, {})
    for peers in moved:
        for nick, entry in peers.items():
            known = into.get(nick)
            if known is None:
                into[nick] = entry
                continue
            merged = dict(known)
            if known["key"] != entry["key"]:
                merged["offered"] = entry["key"]
            elif "offered" in entry and not in_conflict(known):
                merged["offered"] = entry["offered"]
            for field, pick in (("first_seen", min), ("last_seen", max)):
                times = [e[field] for e in (known, entry) if field in e]
                if times:
                    merged[field] = pick(times)
            into[nick] = merged
    return True


def _write(path: Path, hosts: Hosts) -> None:
    document: dict[str, Any] = {"version": 1, "hosts": hosts}
    atomic_write(path, json.dumps(document, indent=1).encode() + b"\n", 0o600)


class KnownPeers:
    """The peers remembered for one host, checked as nicks come and go."""

    def __init__(self, config_dir: Path, host: str) -> None:
        self.path = config_dir / FILE_NAME
        self.host = host
        self.problem: str | None = None
        self._addresses = addresses_of(config_dir, host)  # older names for this host
        self._migrate = False  # pins under those names still to be folded in on save
        try:
            hosts = _load(self.path)
            self._migrate = merge_addresses(hosts, host, self._addresses)
            self._peers = hosts.get(host, {})
        except ConfigError as error:
            self._peers, self.problem = {}, error.message
        self._changed: dict[str, Entry] = {}
        self._accepted: set[str] = set()  # nicks whose pin the user replaced

    def pinned(self, nick: str) -> str | None:
        entry = self._peers.get(nick.casefold())
        return entry["key"] if entry else None

    def check(self, nick: str, key: bytes) -> tuple[PeerVerdict, str | None]:
        """Judge ``nick``'s ``key`` against its pin and remember the sighting:
        (verdict, the pinned fingerprint). A different key never replaces the pin."""
        folded = nick.casefold()
        key_fp = fingerprint(key)
        now = utc_now_iso()
        known = self._peers.get(folded)
        verdict = judge_peer(known["key"] if known else None, key_fp)
        if known is None:
            entry = {"key": key_fp, "first_seen": now, "last_seen": now}
        elif verdict is PeerVerdict.SAME:  # the pinned key is back: no conflict now
            entry = {k: v for k, v in known.items() if k != "offered"} | {"last_seen": now}
        else:
            entry = {**known, "offered": key_fp}
        if entry != known:
            self._put(folded, entry)
        return verdict, known["key"] if known else None

    def accept(self, nick: str, key_fp: str) -> None:
        """Pin ``key_fp`` for ``nick`` because the user said so, and write it now."""
        folded = nick.casefold()
        known = self._peers.get(folded)
        if known is not None and known["key"] == key_fp and not in_conflict(known):
            return
        now = utc_now_iso()
        first = known.get("first_seen", now) if known else now  # known since then
        self._put(folded, {"key": key_fp, "first_seen": first, "last_seen": now})
        self._accepted.add(folded)
        self.save()

    def _put(self, folded: str, entry: Entry) -> None:
        self._peers[folded] = entry
        self._changed[folded] = entry
        if len(self._peers) > 2 * MAX_PEERS_PER_HOST:  # a host inventing nicks
            bound({self.host: self._peers})
            self._changed = {k: v for k, v in self._changed.items() if k in self._peers}

    def save(self) -> None:
        """Merge what changed into the file (locked, atomic); quiet if it is broken.

        A pin someone else wrote meanwhile (another session, ``severus trust
        accept-peer``) wins over ours unless the user accepted ours in this session."""
        if not (self._changed or self._migrate) or self.problem:
            return
        with locked(self.path):
            try:
                hosts = _load(self.path)
            except ConfigError:
                return
            merge_addresses(hosts, self.host, self._addresses)
            peers = hosts.setdefault(self.host, {})
            for folded, entry in self._changed.items():
                current = peers.get(folded)
                if current is None or current["key"] == entry["key"] or folded in self._accepted:
                    peers[folded] = entry
            bound(hosts)
            _write(self.path, hosts)
        self._changed = {}
        self._accepted = set()
        self._migrate = False


def nothing_offered(path: Path, host: str, nick: str, known: Entry | None) -> UsageError:
    """Why there is no changed key to accept for ``nick``."""
    why = "has no changed key to accept" if known else "is not known"
    return UsageError(
        f"{nick} on {host} {why} (in {path}); give the key: "
        f"severus trust accept-peer HOST NICK SHA256:..."
    )


def pinned_entry(config_dir: Path, host: str, nick: str) -> Entry | None:
    """What the file says about ``nick`` on ``host`` (older address names folded in),
    read only: for showing both keys before anyone accepts one."""
    hosts = _load(config_dir / FILE_NAME)
    merge_addresses(hosts, host, addresses_of(config_dir, host))
    return hosts.get(host, {}).get(nick.casefold())


def accept_peer(config_dir: Path, host: str, nick: str, key_fp: str | None) -> tuple[str, str]:
    """Pin a key for ``nick`` on ``host`` by hand: ``key_fp``, or without it the key
    offered and not yet accepted. Returns (the old pin or "", the new pin)."""
    path = config_dir / FILE_NAME
    folded = nick.casefold()
    with locked(path):
        hosts = _load(path)
        merged = merge_addresses(hosts, host, addresses_of(config_dir, host))
        peers = hosts.setdefault(host, {})
        known = peers.get(folded)
        new = key_fp or (known or {}).get("offered")
        if new is None:
            raise nothing_offered(path, host, nick, known)
        old = known["key"] if known else ""
        if old == new and known is not None and not in_conflict(known):
            if merged:
                _write(path, hosts)
            return old, new
        now = utc_now_iso()
        first = known.get("first_seen", now) if known else now  # known since then
        peers[folded] = {"key": new, "first_seen": first, "last_seen": now}
        bound(hosts)
        _write(path, hosts)
    return old, new
