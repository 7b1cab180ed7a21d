"""``severus relay``: a rendezvous and relay server anyone can run on a small VPS."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from severus_cli.commands.common import console, identity_in, run_session
from severus_cli.errors import ConfigError, Interrupted, TransportError, UsageError

TRACE_ENV = "SEVERUS_RELAY_TRACE"
MAX_ALLOW_FILE = 1 << 20


def relay(
    config_dir: Path | None,
    *,
    port: int,
    bind: str | None,
    max_per_ip: int,
    allow: Path | None,
    bandwidth: int,
    handshake_timeout: float,
) -> None:
    from severus_cli.core.nat.relay import RelayConfig, RelayCore
    from severus_cli.core.trust.identity import tls_paths
    from severus_cli.net.relay_client import relay_server_context
    from severus_cli.net.relay_server import RelayServer

    if not 0 < port < 65536:
        raise UsageError(f"port {port} is out of range")
    allowed = _allow_list(allow) if allow is not None else None
    config = RelayConfig(
        max_per_ip=max_per_ip or 1 << 30,
        handshake_timeout=handshake_timeout,
        allow=allowed,
        bandwidth=float(bandwidth),
    )
    directory, identity = identity_in(config_dir)
    cert_file, key_file = tls_paths(directory)

    async def main() -> None:
        out = console()
        server = RelayServer(
            RelayCore(config),
            identity.static_private,
            identity.cert_hash,
            relay_server_context(cert_file, key_file),
            _log_line,
            _trace(),
        )
        try:
            await server.start(bind, port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise TransportError(f"port {port} is already in use; pick another") from None
            raise TransportError(f"cannot listen on port {port}: {error.strerror}") from None
        out.print(Text(f"Severus relay on TCP and UDP port {server.port}", style="bold"))
        out.print(Text("Identity fingerprint: ") + Text(identity.fingerprint, "bold"))
        if allowed is not None:
            out.print(Text(f"Serving only the {len(allowed)} host key(s) in {allow}"))
        out.print(Text(f"Hosts use: severus host --mode quic --relay THIS_ADDRESS:{server.port}"))
        ready = Text("Relayed traffic stays end-to-end encrypted. Ctrl-C stops the relay.")
        try:
            stopped_by = await _until_signal(lambda: out.print(ready))
        finally:
            server.close()
        if stopped_by == signal.SIGINT:
            raise Interrupted()  # Ctrl-C: 130 as everywhere; SIGTERM (a service stop): 0

    run_session(main())


def _allow_list(path: Path) -> frozenset[str]:
    from severus_cli.core.host.moderation import parse_allow_list

    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ALLOW_FILE + 1)
    except OSError as error:
        raise ConfigError(f"cannot read the allow-list {path}: {error.strerror}") from None
    if len(data) > MAX_ALLOW_FILE:
        raise ConfigError(f"the allow-list {path} is larger than 1 MiB")
    try:
        return parse_allow_list(data.decode("utf-8"), path)
    except UnicodeDecodeError:
        raise ConfigError(f"the allow-list {path} is not UTF-8 text") from None


async def _until_signal(ready: Callable[[], None]) -> int:
    """Wait for SIGINT or SIGTERM; return which. ``ready`` runs once both are handled."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def stop_on(signum: int) -> None:
        got.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop_on, signum)
    ready()
    await stop.wait()
    return got[0]


def _trace() -> Callable[[bytes], None] | None:
    """$SEVERUS_RELAY_TRACE names a file that receives every byte the relay handles in
    the clear at its own layer (control packets, and everything it forwards): how
    tests prove the relay never sees what participants say. Off unless set."""
    target = os.environ.get(TRACE_ENV)
    if not target:
        return None
    stream = open(target, "ab", buffering=0)  # noqa: SIM115 - lives as long as the relay

    def record(data: bytes) -> None:
        stream.write(data)

    return record


def _log_line(text: str) -> None:
    """Who registered, punched, was relayed or refused; never content."""
    global _LOG_LINES
    if _LOG_LINES is None:
        from severus_cli.ui.oplog import LogLines

        _LOG_LINES = LogLines(lambda: time.strftime("%H:%M:%S"))
    _LOG_LINES(text)


_LOG_LINES: Callable[[str], None] | None = None
