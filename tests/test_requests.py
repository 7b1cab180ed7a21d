"""The client's request bookkeeping: ids and answers awaited (pacing is checked with the
host's limits, in test_host_limits.py and test_client_core.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from severus_cli.core.client.requests import Request, Requests
from severus_cli.core.wire import packets as p
from severus_cli.core.wire.fields import MAX_ID

NOW = 1000.0


def test_ids_start_at_one_and_wrap_after_the_largest() -> None:
    """Ids fit the wire's Int field (1..MAX_ID, never 0): an id of 0 or above MAX_ID would
    make the host refuse the packet."""
    requests = Requests(p.RateLimits(), NOW)
    assert requests.last_id == 0  # nothing asked yet: no answer matches
    assert [requests.new_id() for _ in range(3)] == [1, 2, 3]
    assert requests.last_id == 3
    requests._next_id = MAX_ID
    assert (requests.new_id(), requests.new_id()) == (MAX_ID, 1)
    assert requests.last_id == 1


def test_an_ask_goes_out_at_once_and_waits_for_its_answer() -> None:
    requests = Requests(p.RateLimits(), NOW)
    request = requests.new_id()
    requests.ask(p.Join(request, "rust"), "join", NOW)
    assert requests.take() == [p.encode(p.Join(request, "rust"))]
    assert requests.queued == 0
    assert requests.pending == {request: Request("join", NOW, "", False)}
    assert requests.count(frozenset({"join"})) == 1
    assert requests.answered(None) is None  # an answer without an id matches nothing
    assert requests.answered(request) == Request("join", NOW, "", False)
    assert requests.answered(request) is None
    assert requests.count(frozenset({"join"})) == 0


def test_only_paced_asks_wait_for_the_rate_limit() -> None:
    """Room and private messages queue once the burst is spent; other requests (a join,
    a names list) go out at once, so pacing never delays the commands."""
    requests = Requests(p.RateLimits(burst=5, rate=1), NOW)
    while not requests.queued:
        requests.ask(p.Seal(requests.new_id(), "lobby", b"x"), "seal", NOW, paced=True)
    requests.take()
    request = requests.new_id()
    requests.ask(p.Join(request, "rust"), "join", NOW)
    assert requests.take() == [p.encode(p.Join(request, "rust"))]
    assert requests.queued == 1


def test_unpaced_data_spends_the_byte_allowance_paced_messages_wait_for() -> None:
    """Keys go out at once but count against the host's byte allowance (under new limits
    too), so the next paced message waits instead of being refused by the host."""
    requests = Requests(p.RateLimits(), NOW)
    requests.new_limits(p.RateLimits(), NOW)
    big = b"k" * p.MAX_DATA
    for _ in range(8):  # more than the whole byte burst, sent at once
        requests.ask(p.Relay(requests.new_id(), "bob", "key", big), "key", NOW)
    assert len(requests.take()) == 8
    requests.ask(p.Seal(requests.new_id(), "lobby", b"hi"), "seal", NOW, paced=True)
    assert requests.take() == []
    assert requests.queued == 1


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 6), st.sampled_from(["seal", "dm", "key", "join"])),
        max_size=60,
    )
)
def test_counts_per_kind_always_match_what_is_pending(steps: list[tuple[bool, int, str]]) -> None:
    """count() keeps tallies instead of walking every pending request: asks (ids reused
    while still pending too) and answers, in any order, leave the tallies exact."""
    requests = Requests(p.RateLimits(burst=10_000, rate=10_000.0), NOW)
    for ask, request, kind in steps:
        if ask:
            requests.ask(p.Join(request, "rust"), kind, NOW)
        else:
            requests.answered(request)
        for kinds in (frozenset({"seal", "dm", "key"}), frozenset({"join"}), frozenset({kind})):
            expected = sum(1 for r in requests.pending.values() if r.kind in kinds)
            assert requests.count(kinds) == expected
