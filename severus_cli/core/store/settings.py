"""``config.toml``: a default nick and mode, and hosts saved under a name.

The file sits beside the identity in the config directory::

    nick = "bob"            # instead of the login name
    mode = "quic"           # for HOST:PORT targets (a ticket says its own)

    [hosts.work]
    address = "192.168.1.20:3000"
    fingerprint = "SHA256:..."   # optional: trust this key, as --fingerprint does
    nick = "bob-work"            # optional, for this host only
    mode = "direct"              # optional, for this host only

    [hosts.friends]
    ticket = "sev..."

Parsing is pure (text in, :class:`Settings` or a :class:`ConfigError` out) and every
complaint names the file and, where it can be found, the line: a typo in a hand-edited
file must be easy to fix. ``tomllib`` is imported only when there is a file to read, so
commands stay fast without one. Adding and removing a host edit the text itself rather
than rewriting it from the parsed values, so the user's comments and layout survive;
each edit is checked by parsing the result before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from severus_cli.errors import ConfigError, UsageError

FILE_NAME = "config.toml"
MODES = ("direct", "quic")
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOP_KEYS = ("nick", "mode", "hosts")
_HOST_KEYS = ("address", "ticket", "fingerprint", "nick", "mode")
_HEADER = re.compile(r"\s*\[\s*([^\[\]#]+?)\s*\]\s*(?:#.*)?")
_DECODE_AT = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")


@dataclass(frozen=True, slots=True)
class SavedHost:
    """A host saved under ``name``: an address or a ticket, and optional defaults."""

    name: str
    address: str | None = None
    ticket: str | None = None
    fingerprint: str | None = None
    nick: str | None = None
    mode: str | None = None

    @property
    def target(self) -> str:
        """What ``join`` and ``send`` connect to, as if it were typed."""
        return self.ticket or self.address or ""


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path | None = None  # None: there is no file
    nick: str | None = None
    mode: str | None = None
    hosts: dict[str, SavedHost] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Choice:
    """What to connect to and with which defaults, after the config file had its say.
    Options on the command line always win over the file."""

    target: str | None  # None: the command finds it itself ($SEVERUS_TICKET, stdin)
    nick: str | None
    mode: str | None
    fingerprint: str | None


def choose(
    settings: Settings,
    target: str | None,
    nick: str | None,
    mode: str | None,
    fingerprint: str | None,
) -> Choice:
    """A saved host's name stands for its address or ticket; then the option, the
    host's own setting, the file's default, in that order. The default mode is for
    addresses only: a ticket names its transports itself."""
    from severus_cli.core.trust.ticket import looks_like_ticket

    saved = settings.hosts.get(target) if target not in (None, "-") else None
    if saved is None:
        is_address = target not in (None, "-") and not looks_like_ticket(target or "")
        default_mode = settings.mode if is_address else None
        return Choice(target, nick or settings.nick, mode or default_mode, fingerprint)
    host_mode = saved.mode or (settings.mode if saved.address else None)
    return Choice(
        saved.target,
        nick or saved.nick or settings.nick,
        mode or host_mode,
        fingerprint or saved.fingerprint,
    )


def settings_path(config_dir: Path) -> Path:
    return config_dir / FILE_NAME


def load_settings(config_dir: Path) -> Settings:
    """The settings in ``config_dir``, or the empty ones if there is no file."""
    path = settings_path(config_dir)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return Settings()
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_settings(text, path)


def parse_settings(text: str, path: Path) -> Settings:
    """Parse and check the file's ``text``; ConfigError names ``path`` and the line."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = _DECODE_AT.match(message)
        if found:
            reason, line, column = found.groups()
            raise ConfigError(f"{path}, line {line}, column {column}: {reason}") from None
        raise ConfigError(f"{path}: {message}") from None
    return _Checker(text, path).settings(data)


class _Checker:
    """Turns parsed TOML into :class:`Settings`, pointing at the line of each problem."""

    def __init__(self, text: str, path: Path) -> None:
        self._lines = text.splitlines()
        self._path = path

    def settings(self, data: dict[str, Any]) -> Settings:
        for key in data:
            if key not in _TOP_KEYS:
                self._fail((), key, f"unknown setting {key!r} (known: {', '.join(_TOP_KEYS)})")
        nick = self._nick(data, ())
        mode = self._mode(data, ())
        table = data.get("hosts", {})
        if not isinstance(table, dict):
            self._fail((), "hosts", "hosts must be a table: [hosts.NAME] sections")
        hosts = {name: self._host(name, entry) for name, entry in table.items()}
        return Settings(self._path, nick, mode, hosts)

    def _host(self, name: str, entry: object) -> SavedHost:
        where = ("hosts", name)
        if not NAME.fullmatch(name):
            self._fail(where, None, f"host name {name!r}: use 1-64 of letters, digits, _ -")
        if not isinstance(entry, dict):
            self._fail(("hosts",), name, f"hosts.{name} must be a table: [hosts.{name}]")
        for key in entry:
            if key not in _HOST_KEYS:
                known = ", ".join(_HOST_KEYS)
                self._fail(where, key, f"unknown setting {key!r} for host {name} ({known})")
        address = self._string(entry, where, "address")
        ticket = self._string(entry, where, "ticket")
        if (address is None) == (ticket is None):
            self._fail(where, None, f"host {name} needs either address or ticket (one of them)")
        try:
            if address is not None:
                from severus_cli.core.trust.tofu import normalise_host

                normalise_host(address)
            if ticket is not None:
                from severus_cli.core.trust.ticket import decode_ticket

                decode_ticket(ticket)
        except UsageError as error:
            self._fail(where, "address" if address else "ticket", error.message)
        fingerprint = self._string(entry, where, "fingerprint")
        if fingerprint is not None:
            from severus_cli.core.trust.identity import parse_fingerprint

            try:
                fingerprint = parse_fingerprint(fingerprint)
            except UsageError as error:
                self._fail(where, "fingerprint", error.message)
        nick, mode = self._nick(entry, where), self._mode(entry, where)
        return SavedHost(name, address, ticket, fingerprint, nick, mode)

    def _string(self, data: dict[str, Any], where: tuple[str, ...], key: str) -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            self._fail(where, key, f"{key} must be a string in quotes")
        return value

    def _nick(self, data: dict[str, Any], where: tuple[str, ...]) -> str | None:
        from severus_cli.core.wire.packets import valid_nick

        nick = self._string(data, where, "nick")
        if nick is not None and not valid_nick(nick):
            self._fail(where, "nick", f"invalid nick {nick!r}: use 1-32 of letters, digits, _ . -")
        return nick

    def _mode(self, data: dict[str, Any], where: tuple[str, ...]) -> str | None:
        mode = self._string(data, where, "mode")
        if mode is not None and mode not in MODES:
            self._fail(where, "mode", f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        return mode

    def _fail(self, table: tuple[str, ...], key: str | None, problem: str) -> NoReturn:
        line = line_of(self._lines, table, key)
        where = f"{self._path}, line {line}" if line else str(self._path)
        raise ConfigError(f"{where}: {problem}")


def _header(line: str) -> tuple[str, ...] | None:
    """The table a ``[a.b]`` header line opens, or None for any other line."""
    found = _HEADER.fullmatch(line)
    if not found or line.lstrip().startswith("[["):
        return None
    return tuple(part.strip().strip("\"'") for part in found.group(1).split("."))


def line_of(lines: list[str], table: tuple[str, ...], key: str | None) -> int | None:
    """1-based line of ``key`` in ``table`` (or of the table's header when ``key`` is
    None); None when it is written some other way (dotted keys, inline tables)."""
    current: tuple[str, ...] = ()
    assignment = re.compile(rf"\s*[\"']?{re.escape(key or '')}[\"']?\s*=")
    for number, line in enumerate(lines, 1):
        opened = _header(line)
        if opened is not None:
            current = opened
            if key is None and current == table:
                return number
        elif key is not None and current == table and assignment.match(line):
            return number
    return None


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes (ASCII only) are all valid TOML ones."""
    import json

    return json.dumps(value, ensure_ascii=True)


def with_host(text: str, path: Path, host: SavedHost) -> str:
    """``text`` with ``host`` appended as a ``[hosts.NAME]`` table; ConfigError if it
    is there already or the file's layout does not allow adding one."""
    before = parse_settings(text, path)
    if host.name in before.hosts:
        raise ConfigError(f"{path} already has a host called {host.name}; remove it first")
    values = [("address", host.address), ("ticket", host.ticket)]
    values += [("fingerprint", host.fingerprint), ("nick", host.nick), ("mode", host.mode)]
    block = [f"[hosts.{host.name}]"]
    block += [f"{key} = {_toml_string(value)}" for key, value in values if value is not None]
    joined = text if not text or text.endswith("\n") else text + "\n"
    result = joined + ("\n" if joined.strip() else "") + "\n".join(block) + "\n"
    try:
        after = parse_settings(result, path)
    except ConfigError:
        after = None
    if after is None or after.hosts.get(host.name) != host:
        raise ConfigError(f"cannot add a [hosts.{host.name}] section to {path}: edit it by hand")
    return result


def without_host(text: str, path: Path, name: str) -> str:
    """``text`` without the ``[hosts.NAME]`` table (its header up to the next one);
    ConfigError if there is none, or removing it would change anything else."""
    before = parse_settings(text, path)
    if name not in before.hosts:
        raise ConfigError(f"{path} has no host called {name}")
    lines = text.splitlines(keepends=True)
    start = line_of([line.rstrip("\r\n") for line in lines], ("hosts", name), None)
    if start is None:
        raise ConfigError(f"host {name} in {path} is not a [hosts.{name}] section: edit by hand")
    end = start
    while end < len(lines) and _header(lines[end].rstrip("\r\n")) is None:
        end += 1
    while end < len(lines) and end > start and lines[end - 1].lstrip().startswith("#"):
        end -= 1  # comments just above the next section are about that one
    result = "".join(lines[: start - 1] + lines[end:])
    try:
        after = parse_settings(result, path)
    except ConfigError:
        after = None
    rest = {k: v for k, v in before.hosts.items() if k != name}
    if after is None or (after.nick, after.mode, after.hosts) != (before.nick, before.mode, rest):
        raise ConfigError(f"cannot remove host {name} from {path} safely: edit it by hand")
    return result
