"""Connecting as a participant: pick a transport, race the addresses, trust on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from severus_cli.core.client.routes import RelayRoute, relay_routes
from severus_cli.core.trust.identity import Identity
from severus_cli.core.trust.identity_format import digest_fingerprint, fingerprint
from severus_cli.core.trust.ticket import Endpoint, decode_ticket, encode_ticket, looks_like_ticket
from severus_cli.core.trust.tofu import normalise_host
from severus_cli.errors import (
    HostUnreachable,
    RejectedError,
    SeverusError,
    TrustError,
    UnknownHostError,
    UsageError,
)
from severus_cli.net.client_link import ClientLink, PortClosed, open_tcp
from severus_cli.net.trust_gate import (
    HostPolicy,
    NewHostPending,
    WrongCertificate,
    make_verifier,
)
from severus_cli.runtime.target_checks import refuse_cut_short_ticket, refuse_url

AskTrust = Callable[[NewHostPending], Awaitable[bool]]
_T = TypeVar("_T")
STAGGER = 0.25  # seconds between starting attempts on successive addresses (happy eyeballs)


def split_host(target: str) -> tuple[str, str, int]:
    """Parse ``HOST[:PORT]``; return (known_hosts key, host, port)."""
    key = normalise_host(target)
    host, _, port = key.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise UsageError(f"not a host address: {target}")
    return key, host, int(port)


def resolve_target(
    target: str,
    mode: str | None,
    config_dir: Path,
    accept_new: bool,
    expected: str | None,
    stun: str | None = None,
) -> tuple[list[Endpoint], HostPolicy]:
    """A ticket or ``HOST[:PORT]`` -> where to connect and how to trust what answers.
    A ticket's relay becomes one more route (``stun``: the STUN server it uses)."""
    if looks_like_ticket(target):
        ticket = decode_ticket(target)
        endpoints = [e for e in ticket.endpoints if mode is None or e.transport == _wire(mode)]
        endpoints += relay_routes(ticket, mode, stun)
        if not endpoints:
            raise UsageError("the ticket lists no address for that mode")
        key_fp = fingerprint(ticket.key)
        if expected is not None and expected != key_fp:
            raise UsageError("--fingerprint does not match the host key in the ticket")
        policy = HostPolicy(config_dir, "ticket", expected=key_fp, remember=False)
        policy.secret = ticket.secret
        policy.cert = digest_fingerprint(ticket.cert_hash)
        policy.ticket = encode_ticket(ticket)
        return endpoints, policy
    refuse_url(target)
    refuse_cut_short_ticket(target)
    key, host, port = split_host(target)
    endpoint = Endpoint(_wire(mode or "direct"), host, port)
    return [endpoint], HostPolicy(config_dir, key, accept_new, expected)


def _wire(mode: str) -> str:
    return "quic" if mode == "quic" else "tcp"


async def open_link(
    identity: Identity, endpoint: Endpoint, policy: HostPolicy, timeout: float
) -> ClientLink:
    """One attempt: transport, TLS, Noise with the trust check."""
    if isinstance(endpoint, RelayRoute):
        from severus_cli.runtime.traverse import open_via_relay

        return await open_via_relay(identity, endpoint, policy, timeout)
    if endpoint.transport == "quic":
        from severus_cli.net.quic import hop_over_quic, open_quic

        opening = open_quic(endpoint.host, endpoint.port, timeout)
        reader, writer, client = await _hinted(opening, policy)
        verify = make_verifier(policy)
        private = identity.static_private
        return await hop_over_quic(reader, writer, client, private, verify, timeout, "quic")
    opened = await _hinted(open_tcp(endpoint.host, endpoint.port, timeout), policy)
    reader, writer, cert_hash, binding = opened
    verify = make_verifier(policy)
    private = identity.static_private
    return await ClientLink.handshake(
        reader, writer, cert_hash, private, verify, timeout, binding=binding
    )


async def _hinted(opening: Awaitable[_T], policy: HostPolicy) -> _T:
    """``opening``, whose "nothing listens there" names the other transport as the
    likely cause: a typed HOST:PORT gives no transport, a ticket does (no hint)."""
    try:
        return await opening
    except PortClosed as error:
        if not policy.remember:
            raise
        if error.transport == "tcp":
            hint = "if the host runs in QUIC mode, add --mode quic"
        else:
            hint = "if the host runs in direct (TCP) mode, leave out --mode quic"
        message = f"{error.message}; {hint} (or join with its ticket)"
        raise PortClosed(message, error.transport) from None


async def race(
    identity: Identity, endpoints: Sequence[Endpoint], policy: HostPolicy, timeout: float
) -> ClientLink:
    """Try every address, each a little after the one before; the first to finish the
    handshake wins and the others are dropped. A trust failure ends the race at once,
    except another certificate than the ticket's at one address: that address is not
    the host (nothing was sent to it), and another may be."""
    if len(endpoints) == 1:
        return await open_link(identity, endpoints[0], policy, timeout)

    async def attempt(index: int, endpoint: Endpoint) -> ClientLink:
        await asyncio.sleep(0 if isinstance(endpoint, RelayRoute) else index * STAGGER)
        return await open_link(identity, endpoint, policy, timeout)

    tasks = [asyncio.create_task(attempt(i, e)) for i, e in enumerate(endpoints)]
    failures: list[str] = []
    refused: RejectedError | None = None
    wrong: WrongCertificate | None = None
    winner: ClientLink | None = None
    deadline = timeout + STAGGER * len(endpoints)  # one deadline for the whole race
    try:
        async with asyncio.timeout(deadline):
            for next_done in asyncio.as_completed(tasks):
                try:
                    winner = await next_done
                    return winner
                except WrongCertificate as error:  # not the host at that address
                    wrong = error
                except TrustError:
                    raise
                except RejectedError as error:  # it answered, but will not have us
                    refused = error
                except SeverusError as error:
                    failures.append(error.message)
    except TimeoutError:
        failures.append(f"nothing else answered within {deadline:g} s")
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, ClientLink) and result is not winner:
                await result.close()  # a slower address finished too: drop it
    if refused is not None:
        raise refused
    if wrong is not None:
        raise wrong
    raise HostUnreachable("no address answered: " + "; ".join(failures))


async def connect(
    identity: Identity,
    endpoints: Sequence[Endpoint],
    policy: HostPolicy,
    ask: AskTrust | None = None,
    timeout: float = 10.0,
) -> ClientLink:
    """Open a trusted hop session to the host.

    A new host is pinned after ``ask`` says yes, then we connect again: the first
    connection is dropped before we reveal anything, so a slow answer costs nothing.
    """
    for _attempt in range(2):
        try:
            return await race(identity, endpoints, policy, timeout)
        except NewHostPending as pending:
            if ask is None:
                raise UnknownHostError(
                    f"{pending.message}\nRefusing to connect to an unknown host without a "
                    f"terminal to ask on. Verify the fingerprint with the host's owner, then "
                    f"rerun with --fingerprint {pending.key_fp} (or --accept-new)."
                ) from None
            if not await ask(pending):
                raise UnknownHostError("Host not trusted; nothing was saved.") from None
            policy.expected = pending.key_fp
    raise UnknownHostError("the host changed its identity while we were connecting")
