"""Backoff with full jitter: every wait within [0, min(cap, base*2^(n-1))],
the ceiling never falls as tries go on and never passes the cap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward_gateway.webhooks.backoff import Backoff, parse_retry_after

bases = st.floats(min_value=0.001, max_value=100, allow_nan=False)
caps = st.floats(min_value=0.001, max_value=10_000, allow_nan=False)
attempts = st.integers(min_value=1, max_value=5_000)


@given(base=bases, cap=caps, attempt=attempts, seed=st.integers())
def test_every_wait_is_within_its_ceiling(base: float, cap: float, attempt: int, seed: int) -> None:
    backoff = Backoff(base, cap)
    delay = backoff.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= backoff.ceiling(attempt) <= cap
    assert backoff.ceiling(attempt) == min(cap, base * 2.0 ** min(attempt - 1, 1023))


@given(base=bases, cap=caps, attempt=attempts)
def test_the_ceiling_is_monotone_and_reaches_the_cap(base: float, cap: float, attempt: int) -> None:
    backoff = Backoff(base, cap)
    assert backoff.ceiling(attempt) <= backoff.ceiling(attempt + 1) <= cap
    assert backoff.ceiling(2_000) == cap


@given(cap=caps, retry_after=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_retry_after_is_honoured_up_to_the_cap(cap: float, retry_after: float) -> None:
    delay = Backoff(0.001, cap).delay(1, random.Random(1), retry_after)
    assert delay <= cap
    assert delay >= min(cap, retry_after)


def test_jitter_spreads_the_waits() -> None:
    rng = random.Random(7)
    waits = [Backoff(1.0, 60.0).delay(4, rng) for _ in range(200)]
    assert min(waits) < 2.0 and max(waits) > 6.0  # uniform over [0, 8]


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(0)


def test_retry_after_forms() -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
