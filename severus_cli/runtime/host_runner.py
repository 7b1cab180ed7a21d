"""``severus host``: serve the chat, and chat in it as the host's own participant."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.client.core import ClientCore
from severus_cli.core.client.events import HostStats, Notice
from severus_cli.core.host.core import HostConfig, HostCore
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.ticket import Endpoint, Ticket
from severus_cli.errors import TransportError
from severus_cli.net.guard import ConnectionGuard
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.participant import PACING_TICK, EventSink, LocalParticipant
from severus_cli.runtime.addresses import reachable_addresses
from severus_cli.runtime.controller import ChatController, View
from severus_cli.runtime.input_order import handle_lines
from severus_cli.runtime.moderator import Moderator
from severus_cli.runtime.sleep_watch import SleepWatch, resumed_notice
from severus_cli.runtime.ticket_notes import TicketSource

if TYPE_CHECKING:
    from severus_cli.net.udp_nat import NatSocket

TRACE_ENV = "SEVERUS_TRACE_PAYLOADS"
HOST_TICK = 0.5  # seconds between the host's timeout checks


@dataclass
class HostOptions:
    port: int
    bind: str | None
    nick: str
    config: HostConfig
    mode: str = "direct"  # or "quic"
    secret: bytes | None = None  # the join secret, carried in the ticket
    relay: str | None = None  # HOST:PORT of a relay to register with (severus relay)
    stun: str | None = None  # HOST:PORT of a STUN server for finding our public UDP endpoint


class Listener:
    """A listening socket of either transport: its port, and how to stop it."""

    def __init__(self, transport: str, port: int, close: Callable[[], None]) -> None:
        self.transport = transport
        self.port = port
        self._close = close
        self.nat: NatSocket | None = None  # QUIC socket that also does STUN and punching

    def close(self) -> None:
        self._close()


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
    cert_file: Path,
    key_file: Path,
    options: HostOptions,
    log: Callable[[str], None],
) -> tuple[HostLoop, Listener]:
    """Listen and return the running host loop; TransportError if the port is taken."""
    core = HostCore(options.config, time.time())
    host_loop = HostLoop(
        core,
        identity.static_private,
        identity.cert_hash,
        log=log,
        trace=_payload_trace(),
        secret=options.secret,
    )
    try:
        listener = await _listen(host_loop, cert_file, key_file, options)
    except OSError as error:
        kind = "UDP" if options.mode == "quic" else "TCP"
        if error.errno == errno.EADDRINUSE:
            raise TransportError(
                f"{kind} port {options.port} is already in use; pick another with --port"
            ) from None
        raise TransportError(
            f"cannot listen on {kind} port {options.port}: {error.strerror or error}"
        ) from None
    return host_loop, listener


def _payload_trace() -> Callable[[bytes], None] | None:
    """$SEVERUS_TRACE_PAYLOADS names a file that receives every packet the host handles
    as it reads or writes it (length-prefixed): how tests prove the host never sees chat
    text in the clear. Off unless set."""
    target = os.environ.get(TRACE_ENV)
    if not target:
        return None
    stream = open(target, "ab", buffering=0)  # noqa: SIM115 - lives as long as the host

    def record(payload: bytes) -> None:
        stream.write(len(payload).to_bytes(4, "big") + payload)

    return record


async def _listen(
    host_loop: HostLoop, cert_file: Path, key_file: Path, options: HostOptions
) -> Listener:
    config = options.config
    guard = ConnectionGuard(config.max_per_ip)
    if options.mode == "quic":
        from severus_cli.net.quic import serve_quic

        try:
            quic = await serve_quic(
                host_loop, cert_file, key_file, options.bind, options.port, guard
            )
        except OSError:
            if options.bind is not None:
                raise
            quic = await serve_quic(host_loop, cert_file, key_file, "0.0.0.0", options.port, guard)
        port = quic._transport.get_extra_info("sockname")[1] if quic._transport else options.port
        listener = Listener("quic", port, quic.close)
        if options.relay or options.stun:
            from severus_cli.net.udp_nat import NatSocket

            listener.nat = NatSocket(quic)
        return listener
    from severus_cli.net.tcp import serve_tcp
    from severus_cli.net.tls import server_context

    context = server_context(cert_file, key_file)
    server = await serve_tcp(
        host_loop,
        context,
        options.bind,
        options.port,
        config.handshake_timeout,
        guard,
        config.max_backlog,
    )
    port = server.sockets[0].getsockname()[1] if server.sockets else options.port
    return Listener("tcp", port, server.close)


def host_ticket(
    identity: Identity,
    listener: Listener,
    bind: str | None,
    secret: bytes | None = None,
    relay: str | None = None,
) -> Ticket:
    """The ticket for this host: its keys, every address it can be reached at, and the
    join secret if it has one."""
    endpoints = tuple(
        Endpoint(listener.transport, address, listener.port)
        for address in reachable_addresses(bind)
    )
    return Ticket(identity.static_public, identity.cert_hash, endpoints, relay, secret)


async def run_host_chat(
    identity: Identity,
    host_loop: HostLoop,
    listener: Listener,
    core: ClientCore,
    view: View,
    lines: AsyncIterator[str],
    ticket: TicketSource = None,
) -> None:
    """Chat as the host's participant until /quit or end of input; ``ticket`` is the
    one printed at start (or what it has become), shown again by /ticket."""
    started = time.time()
    meter = RateMeter(host_loop, time.time)

    def stats(now: float) -> HostStats:
        rate_in, rate_out = meter.rates()
        routing = host_loop.core
        rooms = routing.room_count + 1  # the lobby too, as /rooms lists it
        return HostStats(now, routing.participant_count, rooms, rate_in, rate_out, now - started)

    controller = ChatController(view, stats, moderator=Moderator(host_loop), ticket=ticket)
    keep_local_alive(core, host_loop.core.config.idle_timeout)
    participant = LocalParticipant(core, host_loop, identity.static_public, controller.show)
    controller.participant = participant
    timers = asyncio.create_task(_chat_timers(host_loop, meter, participant, controller.show))
    try:
        await handle_lines(controller, lines, in_order=getattr(view, "in_order", False))
    finally:
        timers.cancel()
        host_loop.shutdown("the host has left")
        await asyncio.sleep(0.05)  # let the goodbyes reach the sockets
        listener.close()
        with contextlib.suppress(asyncio.CancelledError):
            await timers


async def serve_only(
    host_loop: HostLoop, listener: Listener, ready: Callable[[], None] = lambda: None
) -> int:
    """Relay for others until SIGINT/SIGTERM, with no participant of our own; return
    the signal, so Ctrl-C can exit 130 as everywhere else. ``ready`` runs once the
    signals are handled: what it prints tells a supervisor it may stop us cleanly."""
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
    timers = asyncio.create_task(_timers(host_loop, RateMeter(host_loop, time.time)))
    try:
        await stop.wait()
    finally:
        timers.cancel()
        host_loop.shutdown("the host is shutting down")
        await asyncio.sleep(0.05)
        listener.close()
    return got[0]


async def _timers(host_loop: HostLoop, meter: RateMeter) -> None:
    while True:
        await asyncio.sleep(HOST_TICK)
        host_loop.tick()
        meter.sample()


def keep_local_alive(core: ClientCore, idle_timeout: float) -> None:
    """Make the host's own participant immune to its host's timeouts.

    Its host runs in this very process, so it cannot "stop answering" while we run: a
    long silence only means the whole process was stopped (a laptop lid, ``kill -STOP``),
    and declaring the host dead then would strand the chat for good, as the local
    attachment has nothing to reconnect. Its heartbeat, on the other hand, must come
    often enough for the host's idle timeout, however short ``--idle-timeout`` is.
    """
    core.dead_after = math.inf
    core.ping_interval = min(core.ping_interval, idle_timeout / 3)


async def _chat_timers(
    host_loop: HostLoop, meter: RateMeter, participant: LocalParticipant, show: EventSink
) -> None:
    """Drive the host's timeouts and its own participant's heartbeat and pacing from one
    loop, participant first. After the process was stopped for longer than the idle
    timeout, the participant's overdue heartbeat then reaches the host core (in-process,
    synchronously) before the host checks who went quiet, so it is never timed out."""
    watch = SleepWatch(time.time())
    next_host_tick = time.monotonic() + HOST_TICK
    while True:
        await asyncio.sleep(PACING_TICK if participant.core.queued else HOST_TICK)
        slept = watch.check(time.time())
        participant.perform(lambda core, now: core.tick(now))
        if slept is not None:
            show([Notice(time.time(), resumed_notice(slept))])
        if slept is not None or time.monotonic() >= next_host_tick:
            next_host_tick = time.monotonic() + HOST_TICK
            host_loop.tick()
            meter.sample()
