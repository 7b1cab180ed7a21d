"""The token bucket: a burst, then a steady rate, and no credit for time going back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from severus_cli.core.ratelimit import TokenBucket


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
