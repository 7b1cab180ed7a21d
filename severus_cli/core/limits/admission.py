"""Whether a host takes on one more QUIC handshake: a global cap, sans-IO.

A QUIC handshake in progress costs the host a connection's worth of state (TLS,
crypto, recovery: tens of KiB) and a signature, before anyone has proved who they
are. Retry (address validation) stops spoofed sources from starting one at all, and
the per-address cap stops one address from holding many; this cap bounds the sum
over every address, so a botnet of real addresses cannot make the host's memory grow
without bound either. A connection leaves the count when its hop session starts
(the host loop's own handshake accounting takes over) or when it ends.
"""

from __future__ import annotations

MAX_HANDSHAKES = 64  # QUIC connections at once that do not carry a hop session yet
PER_ADDRESS = "too many connections from your address"
BUSY = "too many connections are being set up; try again"


class HandshakeGate:
    """Counts QUIC connections between address validation and their first stream."""

    def __init__(self, limit: int = MAX_HANDSHAKES) -> None:
        self.limit = limit  # 0: no cap
        self.in_progress = 0
        self.refused = 0

    @property
    def full(self) -> bool:
        return bool(self.limit) and self.in_progress >= self.limit

    def enter(self) -> None:
        """A connection was created (the server already checked :attr:`full`)."""
        self.in_progress += 1

    def leave(self) -> None:
        """Its hop session started, or it ended: call once per :meth:`enter`."""
        self.in_progress = max(0, self.in_progress - 1)


def refusal(gate: HandshakeGate, per_address: int, max_per_address: int) -> str | None:
    """Why a validated new connection must be refused (None: take it).

    ``per_address`` is how many connections its source (address or /64) holds now.
    Spends nothing: the caller counts a refusal it carries out.
    """
    if max_per_address and per_address >= max_per_address:
        return PER_ADDRESS
    if gate.full:
        return BUSY
    return None
