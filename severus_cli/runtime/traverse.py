"""Reaching a host through its relay: hole punching raced against relaying.

One control connection to the relay serves both: the participant learns its public
UDP endpoint by STUN from a fresh socket, asks the relay to have the host punch
towards it (and learns the host's endpoint in return), punches too, then runs QUIC
from that same socket. If that has not finished after a short head start, or has
failed, it also ``dial``s on the control connection and runs TLS + Noise with the
host inside the relayed pipe. The first hop session to complete wins; either way the
host proves the key from the ticket, so neither path needs trusting the relay.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from severus_cli.core.client.routes import RelayRoute
from severus_cli.core.nat.relay_link import parse_hostport
from severus_cli.core.nat.relay_packets import Address, Peer, PunchRequest
from severus_cli.core.trust.identity import Identity
from severus_cli.errors import (
    HostUnreachable,
    RejectedError,
    SeverusError,
    TrustError,
)
from severus_cli.net.client_link import ClientLink, Verify
from severus_cli.net.relay_client import RelayChannel, start_relayed_tls
from severus_cli.net.trust_gate import HostPolicy, make_verifier

if TYPE_CHECKING:
    from severus_cli.runtime.join_map import PunchMapping

HEAD_START = 1.0  # seconds punching gets before the relayed path starts as well
PREFER_DIRECT = 0.3  # the relayed path never starts sooner: the ticket's own addresses
# are raced alongside, and on a LAN they answer well within this
PUNCH_WAIT = 1.5  # seconds to hear the host's punches before giving up on punching
STUN_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class PunchOnly(RelayRoute):
    """The relay route without its relayed fallback: a session already relayed looks
    for a better path this way (runtime/path_upgrade.py)."""


async def open_via_relay(
    identity: Identity, route: RelayRoute, policy: HostPolicy, timeout: float
) -> ClientLink:
    """A trusted hop session over the best path the relay can arrange."""
    verify = make_verifier(policy)
    deadline = asyncio.get_running_loop().time() + timeout  # for every path together
    channel = await RelayChannel.open(route.host, route.port, identity.static_private, timeout)
    sock: socket.socket | None = None
    mapping: PunchMapping | None = None
    tasks: dict[asyncio.Task[ClientLink], str] = {}
    winner: ClientLink | None = None
    hole = asyncio.Event()  # set once the host's punches reach us: the path is open
    try:
        async with asyncio.timeout_at(deadline):
            punch = await _ask_to_punch(channel, route) if route.punch else None
            if punch is None and isinstance(route, PunchOnly):
                raise HostUnreachable("no hole to punch (no public UDP endpoint on one side)")
            if punch is not None:
                sock, peer, mapping = punch
                attempt = _punched(identity, sock, peer, verify, timeout, hole, mapping)
                tasks[asyncio.create_task(attempt)] = "punching"
            winner = await _first(tasks, hole, channel, identity, route, verify, timeout)
            return winner
    except TimeoutError:
        raise HostUnreachable(f"no path through {route} within {timeout:g} s") from None
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, ClientLink) and result is not winner:
                await result.close()
        if sock is not None and (winner is None or winner.path != "punched"):
            sock.close()
        if winner is None or winner.path != "relayed":
            await channel.close()
        if mapping is not None:
            mapping.close()


async def _first(
    tasks: dict[asyncio.Task[ClientLink], str],
    hole: asyncio.Event,
    channel: RelayChannel,
    identity: Identity,
    route: RelayRoute,
    verify: Verify,
    timeout: float,
) -> ClientLink:
    """Wait for the first path to succeed. The relayed one starts when punching has
    failed, or when the head start is over and no punch from the host has arrived: a
    hole known to be open is not raced (QUIC through it is only a handshake away)."""
    loop = asyncio.get_running_loop()
    floor_at = loop.time() + PREFER_DIRECT
    relay_at = loop.time() + HEAD_START
    failures: list[str] = []
    refused: RejectedError | None = None  # the host answered but will not have us
    pending = set(tasks)
    relayed = False
    while True:
        now = loop.time()
        late = now >= relay_at and not hole.is_set()
        if isinstance(route, PunchOnly) and not pending:
            raise HostUnreachable(f"{route}: " + "; ".join(failures))
        if not relayed and now >= floor_at and (not pending or late):
            relayed = True
            task = asyncio.create_task(_relayed(identity, channel, route.key, verify, timeout))
            tasks[task] = "relaying"
            pending.add(task)
        if relayed and not pending:
            if refused is not None:
                raise refused
            raise HostUnreachable(f"{route}: " + "; ".join(failures))
        if relayed or (now >= floor_at and hole.is_set()):
            wait = None  # for an attempt to finish
        else:
            wait = max(0.0, (floor_at if now < floor_at else relay_at) - now)
        if not pending:
            await asyncio.sleep(wait or 0.0)  # nothing to wait on before the floor
            continue
        done, pending = await asyncio.wait(
            pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            error = task.exception()
            if error is None:
                return task.result()
            if isinstance(error, TrustError) or not isinstance(error, SeverusError):
                raise error
            if isinstance(error, RejectedError):
                refused = error
            failures.append(f"{tasks[task]}: {error.message}")


async def _ask_to_punch(
    channel: RelayChannel, route: RelayRoute
) -> tuple[socket.socket, Address, PunchMapping | None] | None:
    """Learn our public endpoint and the host's; None when punching cannot work.
    With ``route.map_port`` our router is asked to forward the socket's port meanwhile
    (join_map.py)."""
    from severus_cli.net.udp_nat import socket_binding

    stun_host, stun_port = parse_hostport(route.stun) if route.stun else (route.host, route.port)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            stun_host, stun_port, type=socket.SOCK_DGRAM
        )
    except OSError:
        return None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    mapping: PunchMapping | None = None
    try:
        sock.setblocking(False)
        sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
        if route.map_port and family == socket.AF_INET:
            from severus_cli.runtime.join_map import PunchMapping

            mapping = PunchMapping(sock.getsockname()[1])
        mine = await socket_binding(sock, (str(address[0]), stun_port), STUN_WAIT)
    except (OSError, TimeoutError):
        _drop(sock, mapping)
        return None
    try:
        channel.send(PunchRequest(route.key, mine if mapping is None else mapping.endpoint(mine)))
        answer = await channel.receive()  # a fatal refusal (no such host) ends it all
    except BaseException:
        _drop(sock, mapping)
        raise
    peer = answer.udp if isinstance(answer, Peer) else None  # else rate limited
    if peer is None or (":" in peer[0]) != (family == socket.AF_INET6):
        _drop(sock, mapping)
        return None
    return sock, peer, mapping


def _drop(sock: socket.socket, mapping: PunchMapping | None) -> None:
    sock.close()
    if mapping is not None:
        mapping.close()


async def _punched(
    identity: Identity,
    sock: socket.socket,
    peer: Address,
    verify: Verify,
    timeout: float,
    hole: asyncio.Event,
    mapping: PunchMapping | None = None,
) -> ClientLink:
    from severus_cli.net.quic import hop_over_quic, open_quic
    from severus_cli.net.udp_nat import punch_socket

    heard = await punch_socket(sock, peer, PUNCH_WAIT, any_port=mapping is not None)
    if heard is None:
        raise HostUnreachable("no answer to our punches (a symmetric NAT on either side?)")
    hole.set()
    reader, writer, client = await open_quic(heard[0], heard[1], timeout, sock=sock)
    return await hop_over_quic(
        reader, writer, client, identity.static_private, verify, timeout, "punched"
    )


async def _relayed(
    identity: Identity,
    channel: RelayChannel,
    key: bytes,
    verify: Verify,
    timeout: float,
) -> ClientLink:
    reader, writer, cert_hash, binding = await start_relayed_tls(channel, key)
    return await ClientLink.handshake(
        reader,
        writer,
        cert_hash,
        identity.static_private,
        verify,
        timeout,
        path="relayed",
        binding=binding,
    )
