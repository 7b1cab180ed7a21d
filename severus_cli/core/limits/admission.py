"""Whether a host takes on one more QUIC handshake: a global cap with a fair share per
source, sans-IO.

A QUIC handshake in progress costs the host a connection's worth of state (TLS,
crypto, recovery: tens of KiB) and a signature, before anyone has proved who they
are. Retry (address validation) stops spoofed sources from starting one at all, and
the per-address cap stops one address from holding many connections; this cap bounds
the sum over every address, so a botnet of real addresses cannot make the host's
memory grow without bound either. Within it, one source (an IPv4 address or an IPv6
/64, see :mod:`severus_cli.core.limits.sources`) holds at most a share of the places:
a source that can answer Retries, even with the per-address cap lifted, cannot take
every place and lock everyone else out of connecting. A connection leaves the count
when its hop session starts (the host loop's own handshake accounting takes over) or
when it ends.
"""

from __future__ import annotations

MAX_HANDSHAKES = 64  # QUIC connections at once that do not carry a hop session yet
SHARE = 8  # one source holds at most 1/SHARE of the places (at least one): 8 of 64
PER_ADDRESS = "too many connections from your address"
BUSY = "too many connections are being set up; try again"
SOURCE_BUSY = "too many connections from your address are being set up; try again"


class HandshakeGate:
    """Counts QUIC connections between address validation and their first stream, in
    all and per source (the key :func:`~severus_cli.core.limits.sources.source_key`
    gives)."""

    def __init__(self, limit: int = MAX_HANDSHAKES, share: int = SHARE) -> None:
        self.limit = limit  # 0: no cap, and no share either
        self.per_source = max(1, limit // share) if limit else 0
        self.in_progress = 0
        self.refused = 0
        self._by_source: dict[str, int] = {}

    @property
    def full(self) -> bool:
        return bool(self.limit) and self.in_progress >= self.limit

    def held(self, source: str) -> int:
        """Handshakes in progress from ``source``."""
        return self._by_source.get(source, 0)

    def enter(self, source: str) -> None:
        """A connection from ``source`` was created (the server asked :func:`refusal`)."""
        self.in_progress += 1
        self._by_source[source] = self._by_source.get(source, 0) + 1

    def leave(self, source: str) -> None:
        """Its hop session started, or it ended: call once per :meth:`enter`."""
        self.in_progress = max(0, self.in_progress - 1)
        count = self._by_source.get(source, 0) - 1
        if count > 0:
            self._by_source[source] = count
        else:
            self._by_source.pop(source, None)


def refusal(gate: HandshakeGate, source: str, per_address: int, max_per_address: int) -> str | None:
    """Why a validated new connection from ``source`` must be refused (None: take it).

    ``per_address`` is how many connections that source holds now (handshakes and
    sessions). Spends nothing: the caller counts a refusal it carries out.
    """
    if max_per_address and per_address >= max_per_address:
        return PER_ADDRESS
    if gate.per_source and gate.held(source) >= gate.per_source:
        return SOURCE_BUSY
    if gate.full:
        return BUSY
    return None
