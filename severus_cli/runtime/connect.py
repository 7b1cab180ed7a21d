"""Connecting as a participant: transport, handshake, trust on first use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from severus_cli.core.identity import Identity
from severus_cli.core.trust import normalise_host
from severus_cli.errors import UnknownHostError, UsageError
from severus_cli.net.client_link import ClientLink, open_tcp
from severus_cli.net.trust_gate import HostPolicy, NewHostPending, make_verifier

AskTrust = Callable[[NewHostPending], Awaitable[bool]]


def split_host(target: str) -> tuple[str, str, int]:
    """Parse ``HOST[:PORT]``; return (known_hosts key, host, port)."""
    key = normalise_host(target)
    host, _, port = key.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host:
        raise UsageError(f"not a host address: {target}")
    return key, host, int(port)


async def connect(
    identity: Identity,
    host: str,
    port: int,
    policy: HostPolicy,
    ask: AskTrust | None = None,
    timeout: float = 10.0,
) -> ClientLink:
    """Open a trusted hop session to ``host:port``.

    A new host is pinned after ``ask`` says yes, then we connect again: the first
    connection is dropped before we reveal anything, so a slow answer costs nothing.
    """
    for _attempt in range(2):
        reader, writer, cert_hash = await open_tcp(host, port, timeout)
        try:
            return await ClientLink.handshake(
                reader, writer, cert_hash, identity.static_private, make_verifier(policy), timeout
            )
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
