"""The supervision figures: percentiles, first sendings and acknowledgements, deadlines."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward_gateway.console.figures import Supervision, percentile

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1), st.floats(0.01, 100))
def test_percentile_is_a_value_with_enough_at_or_below(values: list[float], p: float) -> None:
    got = percentile(values, p)
    assert got in values
    below = sum(1 for v in values if v <= got)
    assert below >= math.ceil(p / 100 * len(values))
    # and it is the smallest such value
    smaller = [v for v in values if v < got]
    assert len(smaller) < math.ceil(p / 100 * len(values))


def test_percentile_edges() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == 9.0
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_ack_times_per_type_count_each_delivery_once() -> None:
    s = Supervision()
    for i, wait in enumerate([10, 20, 30, 40]):
        s.alert_delivered(f"d-school-{i}", "school", at(0))
        s.alert_delivered(f"d-school-{i}", "school", at(300))  # a resend: same delivery id
        s.acknowledged(f"d-school-{i}", at(wait))
        s.acknowledged(f"d-school-{i}", at(wait + 500))  # a second ack changes nothing
    s.alert_delivered("d-hotel-1", "hotel", at(0))  # never acknowledged
    rows = {r.agency_type: r for r in s.figures(at(1000))}
    assert rows["school"].alerts_received == 4
    assert rows["school"].alerts_acknowledged == 4
    assert rows["school"].ack_p50_seconds == 20
    assert rows["school"].ack_p90_seconds == 40
    assert rows["hotel"].alerts_received == 1
    assert rows["hotel"].ack_p50_seconds is None


def test_an_ack_read_before_its_delivery_still_counts() -> None:
    s = Supervision()
    s.acknowledged("d1", at(5))
    s.alert_delivered("d1", "shelter", at(2))
    (row,) = s.figures(at(10))
    assert row.ack_p50_seconds == 3


def test_referrals_in_time_late_and_overdue() -> None:
    s = Supervision()
    due, done = at(3600), at(86400)
    s.referral_offered("r1", "SHL-1", 1, "shelter", due, done)
    s.referral_answered("r1", "SHL-1", "accepted", at(600))
    s.referral_answered("r1", "SHL-1", "in-progress", at(700))
    s.referral_answered("r1", "SHL-1", "completed", at(7200))
    s.referral_offered("r2", "SHL-1", 1, "shelter", due, done)
    s.referral_answered("r2", "SHL-1", "rejected", at(4000))  # late
    # r2 re-offered to the next shelter, which has not answered and is past its deadline
    s.referral_offered("r2", "SHL-2", 2, "shelter", at(5000), at(90000))
    s.referral_offered("r3", "SHL-3", 1, "shelter", at(99999), at(199999))  # not due yet
    (row,) = s.figures(at(6000))
    assert row.referrals_offered == 4
    assert row.referrals_answered_in_time == 1
    assert row.referrals_answered_late == 1
    assert row.referrals_completed_in_time == 1
    assert row.referrals_completed_late == 0
    assert row.referrals_overdue_now == 1


def test_an_answer_read_before_its_offer_counts_for_it() -> None:
    s = Supervision()
    s.referral_answered("r1", "SHL-1", "accepted", at(10))
    s.referral_offered("r1", "SHL-1", 1, "shelter", at(60), at(600))
    (row,) = s.figures(at(100))
    assert row.referrals_answered_in_time == 1
