"""Crash-safe file writes and a cross-process lock for read-modify-write."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from severus_cli.errors import ConfigError


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half.

    The temporary file lives in the same directory (``os.replace`` is only atomic
    within one file system), is created 0600 and only then set to ``mode`` (so a
    secret is never briefly world-readable), and is fsynced, as is the directory
    after the rename, so a crash cannot leave an empty key file behind.
    Failures raise ConfigError naming ``path``; no temporary file is left.
    """
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(error, OSError):
            raise _write_error(path, error) from None
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; some file systems cannot fsync a directory, so ignore."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _write_error(path: Path, error: OSError) -> ConfigError:
    return ConfigError(f"cannot write {path}: {error.strerror or error}")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` so concurrent processes serialise updates.

    The lock is on a sibling ``NAME.lock`` file, not on ``path`` itself, because
    ``atomic_write`` replaces ``path`` (a lock on the old inode would not exclude a
    process that opened the new one). The lock file is never deleted, for the same
    reason. The kernel drops the lock if the process dies.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as error:
        raise ConfigError(f"cannot open lock file {lock_path}: {error.strerror or error}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
