"""The token bucket: a burst, then a steady rate, and no credit for time going back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.limits.ratelimit import TokenBucket


def test_starts_full_and_allows_a_burst() -> None:
    bucket = TokenBucket(5, 1, now=100.0)
    assert [bucket.take(100.0) for _ in range(6)] == [True] * 5 + [False]


def test_refills_at_rate() -> None:
    bucket = TokenBucket(3, 2, now=0.0)
    for _ in range(3):
        assert bucket.take(0.0)
    assert not bucket.take(0.0)
    assert not bucket.take(0.4)  # 0.8 tokens
    assert bucket.take(0.5)  # 1.0 token
    assert not bucket.take(0.5)


def test_never_exceeds_capacity() -> None:
    bucket = TokenBucket(2, 10, now=0.0)
    assert bucket.take(1000.0)
    assert bucket.take(1000.0)
    assert not bucket.take(1000.0)


def test_refused_take_spends_nothing() -> None:
    bucket = TokenBucket(1, 1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.5)
    assert bucket.tokens == pytest.approx(0.5)
    assert bucket.take(1.0)


def test_clock_going_backwards_gives_no_tokens() -> None:
    bucket = TokenBucket(1, 1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.tokens == 0.0


def test_cost_bigger_than_one() -> None:
    bucket = TokenBucket(10, 1, now=0.0)
    assert bucket.take(0.0, cost=7)
    assert not bucket.take(0.0, cost=4)
    assert bucket.take(0.0, cost=3)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=50),
    rate=st.floats(min_value=0.1, max_value=100),
    steps=st.lists(st.floats(min_value=0, max_value=5), max_size=60),
)
def test_never_allows_more_than_burst_plus_rate_times_time(
    capacity: int, rate: float, steps: list[float]
) -> None:
    bucket = TokenBucket(capacity, rate, now=0.0)
    now = 0.0
    allowed = 0
    for step in steps:
        now += step
        allowed += sum(bucket.take(now) for _ in range(3))
    assert allowed <= capacity + rate * now + 1e-6


def test_ready_says_whether_take_would_succeed_and_spends_nothing() -> None:
    """A sender that must satisfy two buckets asks both first: ``ready`` must agree with
    ``take`` exactly (the refill, the cap, the cost) and leave the bucket as it was."""
    bucket = TokenBucket(3, 2, now=0.0)
    assert bucket.ready(0.0, cost=3) and not bucket.ready(0.0, cost=3.5)  # full, no more
    for _ in range(3):
        bucket.take(0.0)
    assert not bucket.ready(0.0)
    assert not bucket.ready(0.4)  # 0.8 tokens
    assert bucket.ready(0.5)  # exactly 1.0 token: enough
    assert not bucket.ready(1000.0, cost=3.5)  # a long wait still refills only to capacity
    assert (bucket.tokens, bucket.stamp) == (0.0, 0.0)  # asking spent nothing
    assert bucket.take(0.5)


def test_ready_gives_no_credit_for_the_clock_going_back() -> None:
    bucket = TokenBucket(1, 1, now=10.0)
    assert bucket.take(10.0)
    assert not bucket.ready(10.0)
    assert not bucket.ready(5.0)


def test_charge_goes_into_debt_that_paced_sending_must_repay() -> None:
    """What is sent unpaced still counts: after a charge beyond the tokens left, nothing
    paced goes until the debt is repaid at ``rate``."""
    bucket = TokenBucket(5, 1, now=0.0)
    bucket.charge(0.0, 8)  # 5 tokens, 8 spent: 3 owed
    assert not bucket.ready(3.99)
    assert not bucket.take(3.99)
    assert bucket.take(4.0)  # 3 s to repay, 1 s for the token


def test_debt_is_at_most_one_capacity_deep() -> None:
    """A huge unpaced burst blocks paced sending for capacity / rate seconds at most, not
    for as long as the burst would take to repay."""
    bucket = TokenBucket(5, 1, now=0.0)
    bucket.charge(0.0, 1_000_000)
    assert bucket.tokens == -5
    assert not bucket.take(5.99)
    assert bucket.take(6.0)


def test_charge_refills_first_at_rate_up_to_capacity() -> None:
    """A charge spends from what the elapsed time refilled at ``rate``; after a long
    quiet spell that is a full bucket, not an allowance that grew while nobody sent."""
    bucket = TokenBucket(4, 2, now=0.0)
    assert all(bucket.take(0.0) for _ in range(4))
    bucket.charge(1.0, 1)  # 2 tokens refilled in 1 s, 1 spent
    assert [bucket.take(1.0) for _ in range(2)] == [True, False]
    bucket = TokenBucket(5, 1, now=0.0)
    bucket.charge(1000.0, 2)
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_charge_gives_no_credit_for_time_not_passed() -> None:
    """Charging at the same instant (or with the clock gone back) adds no tokens, and
    moves the stamp so the same time is never counted twice."""
    bucket = TokenBucket(1, 1, now=20.0)
    assert bucket.take(20.0)
    bucket.charge(20.0, 0.5)
    assert not bucket.ready(21.49)
    assert bucket.ready(21.5)
    bucket.charge(10.0, 0)  # clock went back: no credit, and no debt either
    assert not bucket.take(10.0)
    assert bucket.take(11.5)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=20),
    rate=st.floats(min_value=0.1, max_value=50),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=3),
            st.sampled_from(["take", "ready", "charge"]),
            st.floats(min_value=0, max_value=30),
        ),
        max_size=60,
    ),
)
def test_ready_agrees_with_take_and_charges_never_add_allowance(
    capacity: int, rate: float, steps: list[tuple[float, str, float]]
) -> None:
    """Under any mix of paced takes, questions and unpaced charges: ``ready`` predicts
    ``take``, and what is paced never exceeds the burst plus the rate times the time
    (charges can only lower it). The clock is monotonic, as in every caller."""
    bucket = TokenBucket(capacity, rate, now=0.0)
    now = 0.0
    paced = 0.0
    for step, action, cost in steps:
        now += step
        if action == "take":
            expected = bucket.ready(now, cost)
            taken = bucket.take(now, cost)
            assert taken == expected
            paced += cost if taken else 0.0
        elif action == "ready":
            before = (bucket.tokens, bucket.stamp)
            bucket.ready(now, cost)
            assert (bucket.tokens, bucket.stamp) == before
        else:
            bucket.charge(now, cost)
        assert -capacity <= bucket.tokens <= capacity
    assert paced <= capacity + rate * now + 1e-6
