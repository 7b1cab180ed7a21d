"""The known_hosts store: ``known_hosts.json`` in the config dir.

Format::

    {"version": 1, "hosts": {"127.0.0.1:3000": {"key": "SHA256:...",
      "cert": "SHA256:..." | null, "first_seen": "...Z", "last_seen": "...Z"}}}

People may edit it by hand, so every field is checked on load and any problem is a
ConfigError naming the file. Every change is a locked read-modify-write followed by
an atomic replace, so concurrent severus processes never lose each other's pins.
Unknown fields inside an entry are ignored (and dropped on the next write).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from severus_cli.core.store.files import atomic_write, locked
from severus_cli.core.trust.identity import parse_fingerprint
from severus_cli.core.trust.tofu import KnownHost, normalise_host
from severus_cli.errors import ChangedHostKeyError, ConfigError, SeverusError

FILE_NAME = "known_hosts.json"
VERSION = 1


def utc_now_iso() -> str:
    """The timestamp format stored in known_hosts (ISO 8601, UTC, seconds)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class KnownHosts:
    """A snapshot of the file; change it through ``pin``/``touch``/``remove``."""

    path: Path
    hosts: dict[str, KnownHost] = field(default_factory=dict)

    @classmethod
    def load(cls, config_dir: Path) -> KnownHosts:
        """Read the store; a missing file is an empty store."""
        path = config_dir / FILE_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        except OSError as error:
            raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
        return cls(path, parse_known_hosts(data, path))

    def get(self, host: str) -> KnownHost | None:
        return self.hosts.get(normalise_host(host))

    def entries(self) -> dict[str, KnownHost]:
        """All pins, sorted by host."""
        return dict(sorted(self.hosts.items()))

    def to_json(self) -> bytes:
        hosts = {
            host: {
                "key": entry.key,
                "cert": entry.cert,
                "first_seen": entry.first_seen,
                "last_seen": entry.last_seen,
            }
            for host, entry in self.entries().items()
        }
        text = json.dumps({"version": VERSION, "hosts": hosts}, indent=2, sort_keys=True)
        return (text + "\n").encode("utf-8")


def parse_known_hosts(data: bytes, path: Path) -> dict[str, KnownHost]:
    """Parse and validate the file's bytes; ConfigError for anything unexpected."""

    def fail(problem: str) -> ConfigError:
        return ConfigError(
            f"{path} is not a valid known_hosts file ({problem}); fix it by hand, or "
            "delete it to forget all pinned hosts"
        )

    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:
        raise fail(_short_reason(error)) from None
    if not isinstance(document, dict):
        raise fail("the top level must be a JSON object")
    version = document.get("version")
    if type(version) is not int or version != VERSION:
        raise fail(f"unsupported version {_show(version)}, expected {VERSION}")
    hosts = document.get("hosts")
    if not isinstance(hosts, dict):
        raise fail('"hosts" must be a JSON object')
    result: dict[str, KnownHost] = {}
    for name, raw in hosts.items():
        try:
            host = normalise_host(name)
        except SeverusError:
            raise fail(f"bad host {_show(name)}") from None
        if host in result:
            raise fail(f"{host} appears twice")
        result[host] = _parse_entry(host, raw, fail)
    return result


def _parse_entry(host: str, raw: object, fail: Callable[[str], ConfigError]) -> KnownHost:
    if not isinstance(raw, dict):
        raise fail(f"the entry for {host} must be a JSON object")

    def fingerprint_field(name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str):
            raise fail(f'"{name}" of {host} must be a SHA256: fingerprint')
        try:
            return parse_fingerprint(value)
        except SeverusError:
            raise fail(f'"{name}" of {host} is not a valid SHA256: fingerprint') from None

    def time_field(name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str):
            raise fail(f'"{name}" of {host} must be an ISO 8601 time')
        try:
            dt.datetime.fromisoformat(value)
        except ValueError:
            raise fail(f'"{name}" of {host} is not an ISO 8601 time') from None
        return value

    return KnownHost(
        key=fingerprint_field("key"),
        cert=None if raw.get("cert") is None else fingerprint_field("cert"),
        first_seen=time_field("first_seen"),
        last_seen=time_field("last_seen"),
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A hand-edited file may repeat a host; json would silently keep the last one."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {_show(key)}")
        result[key] = value
    return result


def _short_reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return _show(str(error), 120)[1:-1]


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _save(store: KnownHosts) -> None:
    atomic_write(store.path, store.to_json(), 0o600)


def pin(config_dir: Path, host: str, key_fp: str, cert_fp: str | None, now_iso: str) -> bool:
    """Pin ``host`` to ``key_fp``; return True if it was not pinned before.

    Re-pinning the same key refreshes last_seen (and the cert, if given). A different
    key is never overwritten: ChangedHostKeyError, and the file is left alone.
    """
    host = normalise_host(host)
    with locked(config_dir / FILE_NAME):
        store = KnownHosts.load(config_dir)
        existing = store.hosts.get(host)
        if existing is not None and existing.key != key_fp:
            raise ChangedHostKeyError(
                f"{host} is already pinned to a different key ({existing.key}); if the "
                f"host really changed its key, remove the old pin first with: "
                f"severus trust remove {host}"
            )
        if existing is None:
            store.hosts[host] = KnownHost(key_fp, cert_fp, now_iso, now_iso)
        else:
            store.hosts[host] = replace(existing, cert=cert_fp or existing.cert, last_seen=now_iso)
        _save(store)
    return existing is None


def touch(
    config_dir: Path,
    host: str,
    cert_fp: str,
    now_iso: str,
    *,
    key_fp: str | None = None,
) -> bool:
    """Record that ``host`` was seen now with ``cert_fp``; False if it is not pinned.

    Pass ``key_fp`` (the key that was just verified) so that a pin changed by another
    process in the meantime is left alone rather than given a foreign certificate.
    """
    host = normalise_host(host)
    with locked(config_dir / FILE_NAME):
        store = KnownHosts.load(config_dir)
        existing = store.hosts.get(host)
        if existing is None or (key_fp is not None and existing.key != key_fp):
            return False
        store.hosts[host] = replace(existing, cert=cert_fp, last_seen=now_iso)
        _save(store)
    return True


def remove(config_dir: Path, host: str) -> bool:
    """Forget ``host``; False if it was not pinned (the file is then not rewritten)."""
    host = normalise_host(host)
    with locked(config_dir / FILE_NAME):
        store = KnownHosts.load(config_dir)
        if store.hosts.pop(host, None) is None:
            return False
        _save(store)
    return True
