"""Held room messages: the byte bound over all senders, exactly at its limit.

The count bounds are checked through the keyring (test_e2e_bounds.py); the byte bound
needs messages near the largest size from several senders, cheaper to build here as
plain envelopes, since holding them does no cryptography.
"""

from __future__ import annotations

from severus_cli.core.e2e import wire
from severus_cli.core.e2e.pending import MAX_PENDING_BYTES, Held, Pending

OVERHEAD = 128  # what each held message is charged beyond its ciphertext
BIG = 65000  # the largest ciphertext


def held(nick: str, size: int, counter: int = 0) -> Pending:
    """A message from ``nick`` (key derived from the nick) whose charge is ``size``."""
    sealed = wire.Sealed(b"E" * 8, counter, bytes(size - OVERHEAD), b"s" * 64)
    return Pending(0.0, nick.encode().ljust(32, b"\x00"), nick, "lobby", sealed, 1.0)


def fill_to_the_byte_bound(queue: Held) -> list[Pending]:
    """128 of the largest messages from five senders (each under its own quota), then
    one that reaches the bound exactly: MAX_PENDING_BYTES charged in all."""
    items = [held(f"n{i % 5}", BIG + OVERHEAD, i) for i in range(128)]
    items.append(held("last", MAX_PENDING_BYTES - 128 * (BIG + OVERHEAD)))
    for item in items:
        queue.add(item)
    return items


def test_exactly_the_byte_bound_is_held() -> None:
    queue = Held()
    fill_to_the_byte_bound(queue)
    assert len(queue) == 129
    assert not queue.evicted


def test_one_byte_over_evicts_the_oldest_of_the_sender_holding_most() -> None:
    queue = Held()
    fill_to_the_byte_bound(queue)
    queue.add(held("n0", OVERHEAD + 1))  # n0 now holds the most bytes
    assert queue.evicted == {"n0": 1}
    assert len(queue) == 129
    taken = queue.take(lambda item: item.nick == "n0")
    assert [item.sealed.counter for item in taken][:2] == [5, 10]  # its oldest (0) went


def test_taking_messages_gives_their_bytes_back() -> None:
    queue = Held()
    items = fill_to_the_byte_bound(queue)
    taken = queue.take(lambda item: item.nick in ("n0", "n1"))
    assert len(taken) == 52
    for item in taken:  # the same bytes again fit exactly
        queue.add(item)
    assert len(queue) == 129 and not queue.evicted
    queue.add(held("n2", OVERHEAD + 1))  # and one byte more does not
    assert queue.evicted == {"n2": 1}
    assert len(items) == 129


def test_a_partial_take_leaves_that_sender_charged_for_what_remains() -> None:
    """After some of a sender's messages are taken, it is charged for the rest only, so
    the next eviction still falls on whoever really holds the most bytes."""
    queue = Held()
    fill_to_the_byte_bound(queue)
    taken = queue.take(lambda item: item.nick == "n0" and item.sealed.counter < 65)
    assert len(taken) == 13
    for i in range(13):  # back to the bound exactly, from a new sender
        queue.add(held("n5", BIG + OVERHEAD, 1000 + i))
    assert not queue.evicted
    queue.add(held("n1", OVERHEAD + 1))
    assert queue.evicted == {"n1": 1}
