"""``severus host``: serve the chat, and chat in it as the host's own participant."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from severus_cli.core.client import ClientCore
from severus_cli.core.events import HostStats
from severus_cli.core.host import HostConfig, HostCore
from severus_cli.core.identity import Identity
from severus_cli.errors import TransportError
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.participant import LocalParticipant
from severus_cli.net.tcp import serve_tcp
from severus_cli.net.tls import server_context
from severus_cli.runtime.controller import ChatController, View


@dataclass
class HostOptions:
    port: int
    bind: str | None
    nick: str
    config: HostConfig


class RateMeter:
    """Bytes per second over the last few samples, for /stats."""

    def __init__(self, host_loop: HostLoop, clock: Callable[[], float]) -> None:
        self._loop = host_loop
        self._clock = clock
        self._samples: list[tuple[float, int, int]] = [(clock(), 0, 0)]

    def sample(self) -> None:
        traffic = self._loop.traffic
        self._samples.append((self._clock(), traffic.bytes_in, traffic.bytes_out))
        del self._samples[:-6]

    def rates(self) -> tuple[float, float]:
        (t0, in0, out0), (t1, in1, out1) = self._samples[0], self._samples[-1]
        span = max(t1 - t0, 1e-9)
        return (in1 - in0) / span, (out1 - out0) / span


async def start_host(
    identity: Identity,
    cert_file: str,
    key_file: str,
    options: HostOptions,
    log: Callable[[str], None],
) -> tuple[HostLoop, asyncio.Server]:
    """Listen and return the running host loop; TransportError if the port is taken."""
    from pathlib import Path

    core = HostCore(options.config, time.time())
    host_loop = HostLoop(core, identity.static_private, identity.cert_hash, log=log)
    context = server_context(Path(cert_file), Path(key_file))
    try:
        server = await serve_tcp(
            host_loop, context, options.bind, options.port, options.config.handshake_timeout
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise TransportError(
                f"port {options.port} is already in use; pick another with --port"
            ) from None
        raise TransportError(f"cannot listen on port {options.port}: {error.strerror}") from None
    return host_loop, server


async def run_host_chat(
    identity: Identity,
    host_loop: HostLoop,
    server: asyncio.Server,
    core: ClientCore,
    view: View,
    lines: AsyncIterator[str],
) -> None:
    """Chat as the host's participant until /quit or end of input."""
    started = time.time()
    meter = RateMeter(host_loop, time.time)

    def stats(now: float) -> HostStats:
        rate_in, rate_out = meter.rates()
        core = host_loop.core
        return HostStats(
            now, core.participant_count, core.room_count, rate_in, rate_out, now - started
        )

    controller = ChatController(view, stats)
    participant = LocalParticipant(core, host_loop, identity.static_public, controller.show)
    controller.participant = participant
    timers = asyncio.create_task(_timers(host_loop, meter))
    pacing = asyncio.create_task(participant.run_timers())
    try:
        async for line in lines:
            if not controller.handle(line):
                break
    finally:
        timers.cancel()
        pacing.cancel()
        host_loop.shutdown("the host has left")
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)


async def _timers(host_loop: HostLoop, meter: RateMeter) -> None:
    while True:
        await asyncio.sleep(0.5)
        host_loop.tick()
        meter.sample()
