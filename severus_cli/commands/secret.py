"""Where a join secret comes from: never the command line, where ``ps`` shows it.

``--secret`` reads ``$SEVERUS_SECRET`` (a host without it makes up a random one);
``--secret-file FILE`` reads the first line of FILE, or of stdin for ``-``.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from severus_cli.errors import ConfigError, UsageError

SECRET_ENV = "SEVERUS_SECRET"
MAX_SECRET = 255  # bytes: what a ticket entry holds


def read_line_unbuffered(limit: int = 4096) -> str:
    """One line from stdin, byte by byte, so the lines after it stay unread for the
    chat (a buffered readline would swallow them)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.stdin.readline()
    data = bytearray()
    while len(data) < limit:
        byte = os.read(fd, 1)
        if not byte or byte == b"\n":
            break
        data += byte
    return data.decode("utf-8", "replace")


def _checked(text: str, where: str) -> bytes:
    secret = text.strip().encode("utf-8")
    if not secret:
        raise UsageError(f"the join secret from {where} is empty")
    if len(secret) > MAX_SECRET:
        raise UsageError(f"the join secret from {where} is longer than {MAX_SECRET} bytes")
    return secret


def _from_file(name: str, stdin_allowed: bool) -> bytes:
    if name == "-":
        if not stdin_allowed:
            raise UsageError("stdin carries the messages here; use --secret with $SEVERUS_SECRET")
        return _checked(read_line_unbuffered(), "stdin")
    path = Path(name).expanduser()
    try:
        with path.open("rb") as stream:
            first = stream.read(MAX_SECRET * 4 + 2).decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the join secret from {path}: {reason or error}") from None
    return _checked(first[0] if first else "", str(path))


def join_secret(
    use_env: bool, file: str | None, *, generate: bool = False, stdin_allowed: bool = True
) -> tuple[bytes | None, bool]:
    """The secret asked for, and whether it was just made up; (None, False) if none."""
    if file is not None:
        return _from_file(file, stdin_allowed), False
    if not use_env:
        return None, False
    value = os.environ.get(SECRET_ENV, "")
    if value.strip():
        return _checked(value, f"${SECRET_ENV}"), False
    if generate:
        return secrets.token_urlsafe(16).encode("ascii"), True
    raise UsageError(f"--secret reads ${SECRET_ENV}, which is not set (or use --secret-file)")
