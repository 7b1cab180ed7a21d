"""Held room messages: a sender's quota counts only what is still held."""

from __future__ import annotations

from severus_cli.core.e2e.pending import MAX_PENDING_PER_SENDER, Held
from tests.test_e2e_pending import held


def test_messages_taken_give_their_place_in_the_quota_back() -> None:
    queue = Held()
    for rounds in range(3):
        for i in range(MAX_PENDING_PER_SENDER):
            queue.add(held("bob", 200, i))
        assert len(queue) == MAX_PENDING_PER_SENDER and not queue.evicted, rounds
        assert len(queue.take(lambda item: item.nick == "bob")) == MAX_PENDING_PER_SENDER
    queue.add(held("bob", 200, 0))
    assert len(queue) == 1 and not queue.evicted
