"""A host's registration with a relay: stay reachable from behind any NAT.

The host keeps one outbound control connection to the relay (so its own NAT never
has to accept anything), re-learns its public UDP endpoint by STUN from the QUIC
socket every 15 s (which also keeps that NAT mapping alive) and reports changes. It
punches towards participants the relay announces, and opens a data connection for
each relayed participant. Lost relay: reconnect with backoff; the chat goes on.

What it shows in the host's chat is only a change of state (registered, lost or
unreachable, registered again): retries and punches happen every few seconds and
would bury what people say.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from severus_cli.core.nat.punch import PunchPolicy
from severus_cli.core.nat.relay_link import parse_hostport
from severus_cli.core.nat.relay_packets import (
    Address,
    Open,
    PunchTo,
    Register,
    Registered,
    RelayError,
    RelayPing,
    format_address,
)
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.identity_format import fingerprint
from severus_cli.errors import SeverusError
from severus_cli.net.host_loop import HostLoop
from severus_cli.net.relay_client import RelayChannel, relay_client_context
from severus_cli.net.relay_host_link import RelayedHostConnection
from severus_cli.net.tls import server_context
from severus_cli.net.udp_nat import NatSocket
from severus_cli.runtime.retry_notes import plain_reason

if TYPE_CHECKING:
    from severus_cli.runtime.host_runner import HostOptions, Listener

REFRESH = 15.0  # seconds between STUN refreshes and relay pings
BACKOFF_MAX = 30.0
MAX_OPENING = 16  # relayed connections being set up at once


class RelayAgent:
    def __init__(
        self,
        identity: Identity,
        relay: str,
        host_loop: HostLoop,
        server_context: ssl.SSLContext,
        nat: NatSocket | None,
        stun_server: str | None,
        log: Callable[[str], None],
        handshake_timeout: float = 10.0,
    ) -> None:
        self._identity = identity
        self._relay = parse_hostport(relay)
        self._stun_server = parse_hostport(stun_server) if stun_server else None
        self._host = host_loop
        self._context = server_context
        self._nat = nat
        self._log = log
        self._timeout = handshake_timeout
        self._punches = PunchPolicy()
        self._opening = 0
        self.public_udp: Address | None = None
        self.registered = False
        self._shown: str | None = None  # the state last shown: "registered" or "down"
        self._ever = False  # registered at least once, so the next time is "again"
        self._last_error = ""  # the relay's last refusal shown, not to repeat it

    async def run(self) -> None:
        """Stay registered until cancelled."""
        delay = 1.0
        host, port = self._relay
        while True:
            try:
                channel = await RelayChannel.open(host, port, self._identity.static_private)
            except SeverusError as error:
                self._down(error)
            else:
                delay = 1.0
                try:
                    await self._serve(channel)
                except SeverusError as error:
                    self._down(error)
                finally:
                    self.registered = False
                    await channel.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _serve(self, channel: RelayChannel) -> None:
        self.public_udp = await self._discover()
        channel.send(Register(self.public_udp))
        refresher = asyncio.create_task(self._refresh(channel))
        try:
            while True:
                packet = await channel.receive()
                if isinstance(packet, Registered) and not self.registered:
                    self.registered = True
                    self._up(packet)
                elif isinstance(packet, PunchTo):
                    self._punch(packet)
                elif isinstance(packet, Open):
                    self._open(packet)
                elif isinstance(packet, RelayError) and packet.msg != self._last_error:
                    self._last_error = packet.msg  # refused again at every retry: once
                    self._log(f"relay: {packet.msg}")
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    def _up(self, packet: Registered) -> None:
        where = format_address(packet.udp) if packet.udp else "none (no UDP)"
        again = " again" if self._ever else ""
        self._ever = True
        self._shown = "registered"
        self._last_error = ""
        self._log(
            f"relay: registered{again} with {format_address(self._relay)}, public UDP {where}"
        )

    def _down(self, error: SeverusError) -> None:
        """The first failure after being registered (or at start) is shown; the retries
        that follow are not, until the relay takes us again."""
        if self._shown == "down":
            return
        relay = format_address(self._relay)
        what = "lost the relay" if self._shown == "registered" else "cannot reach the relay"
        self._shown = "down"
        self._log(f"relay: {what} {relay} ({plain_reason(error)}); retrying in the background")

    async def _discover(self) -> Address | None:
        """Our QUIC socket's public endpoint: from --stun, or the relay's own STUN."""
        if self._nat is None:
            return None
        server = self._stun_server or self._relay
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                server[0], server[1], type=socket.SOCK_DGRAM
            )
            return await self._nat.stun.binding((str(infos[0][4][0]), server[1]))
        except (OSError, TimeoutError):
            return None

    async def _refresh(self, channel: RelayChannel) -> None:
        ping = 0
        while True:
            await asyncio.sleep(REFRESH)
            udp = await self._discover()
            if udp != self.public_udp:
                self.public_udp = udp
                channel.send(Register(udp))
            ping += 1
            channel.send(RelayPing(ping))

    def _punch(self, packet: PunchTo) -> None:
        now = asyncio.get_running_loop().time()
        if self._nat is None or not self._punches.allow(packet.udp, now):
            return  # (a target or the host over its allowance: the relayed path remains)
        self._nat.punch(packet.udp)  # not shown: a punch is routine, not a change of state

    def _open(self, packet: Open) -> None:
        if self._opening >= MAX_OPENING:
            return
        self._opening += 1
        task = asyncio.create_task(self._data_connection(packet))
        task.add_done_callback(lambda _: self._finished())

    def _finished(self) -> None:
        self._opening -= 1

    async def _data_connection(self, packet: Open) -> None:
        host, port = self._relay
        label = f"{fingerprint(packet.key)[:19]} via {format_address(self._relay)}"
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            _, protocol = await loop.create_connection(
                lambda: RelayedHostConnection(
                    self._host,
                    self._context,
                    self._identity.static_private,
                    packet.token,
                    label,
                    self._timeout,
                ),
                host,
                port,
                ssl=relay_client_context(),
                server_hostname="",
                ssl_handshake_timeout=self._timeout,
            )
            await asyncio.wait_for(asyncio.shield(protocol.done), self._timeout)


class StatusLog:
    """Relay status lines: held until the chat screen exists, then shown there."""

    def __init__(self, sink: Callable[[str], None] | None) -> None:
        self._sink = sink
        self._held: list[str] = []

    def __call__(self, text: str) -> None:
        if self._sink is not None:
            self._sink(text)
        elif len(self._held) < 20:
            self._held.append(text)

    def attach(self, sink: Callable[[str], None]) -> None:
        self._sink = sink
        for text in self._held:
            sink(text)
        self._held.clear()


def start_relay_agent(
    identity: Identity,
    host_loop: HostLoop,
    listener: Listener,
    options: HostOptions,
    tls_files: tuple[Path, Path],
    log: Callable[[str], None],
) -> asyncio.Task[None] | None:
    """Register with ``options.relay``; with only ``--stun``, just show our public
    UDP endpoint. The caller keeps the task (asyncio.run cancels it at the end)."""
    if options.relay:
        agent = RelayAgent(
            identity,
            options.relay,
            host_loop,
            server_context(*tls_files),
            listener.nat,
            options.stun,
            log,
            options.config.handshake_timeout,
        )
        return asyncio.create_task(agent.run())
    if options.stun and listener.nat is not None:
        return asyncio.create_task(_show_public_udp(listener.nat, options.stun, log))
    return None


async def _show_public_udp(nat: NatSocket, stun: str, log: Callable[[str], None]) -> None:
    host, port = parse_hostport(stun)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        mapped = await nat.stun.binding((str(infos[0][4][0]), port))
    except (OSError, TimeoutError):
        log(f"STUN: no answer from {stun}")
        return
    log(f"STUN: public UDP endpoint {format_address(mapped)} (as {stun} sees it)")
