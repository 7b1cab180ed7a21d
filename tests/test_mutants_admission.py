"""The QUIC handshake gate at its edges: rounding of the per-source share, a source
that leaves more often than it entered, and no memory kept for sources that are gone."""

from __future__ import annotations

from severus_cli.core.limits.admission import SOURCE_BUSY, HandshakeGate, refusal


def places(gate: HandshakeGate, source: str) -> int:
    """How many handshakes ``source`` may start before it is refused (gate not full)."""
    taken = 0
    while refusal(gate, source, 0, 0) is None:
        gate.enter(source)
        taken += 1
        assert taken <= gate.limit
    return taken


def test_the_share_per_source_is_rounded_down() -> None:
    assert places(HandshakeGate(15), "a") == 1  # 15 // 8, not 1.875
    assert places(HandshakeGate(23), "a") == 2  # 23 // 8, not 2.875
    assert places(HandshakeGate(64, share=3), "a") == 21


def test_a_source_still_in_a_handshake_keeps_its_place() -> None:
    gate = HandshakeGate(16)  # two places per source
    gate.enter("a")
    gate.enter("a")
    gate.leave("a")
    assert gate.held("a") == 1 and gate.in_progress == 1
    gate.enter("a")
    assert refusal(gate, "a", 0, 0) == SOURCE_BUSY
    gate.leave("a")
    gate.leave("a")
    assert gate.held("a") == 0 and places(gate, "a") == 2


def test_leaving_a_source_never_entered_changes_nothing() -> None:
    """A connection may end twice over (its session started, then it closed): the
    second leave must neither raise nor give anyone a place they do not have."""
    gate = HandshakeGate(16)
    gate.leave("never")
    assert gate.in_progress == 0 and gate.held("never") == 0
    gate.enter("a")
    gate.leave("a")
    gate.leave("a")
    assert gate.held("a") == 0 and gate.in_progress == 0
    assert places(gate, "a") == 2


def test_sources_that_are_gone_leave_nothing_behind() -> None:
    """The gate bounds memory against many real addresses: once their handshakes end,
    it keeps no count for any of them."""
    gate = HandshakeGate()
    sources = [f"192.0.2.{n}" for n in range(200)]
    for source in sources:
        gate.enter(source)
        gate.enter(source)
    for source in sources:
        gate.leave(source)
        gate.leave(source)
    assert gate.in_progress == 0
    assert gate._by_source == {}
