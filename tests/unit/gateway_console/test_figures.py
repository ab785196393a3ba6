"""The supervision figures: percentiles, first sendings and acknowledgements, deadlines."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward_gateway.console.figures import AlertSeen, OfferSeen, figures, percentile

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
    alerts = []
    for i, wait in enumerate([10, 20, 30, 40]):
        alerts.append(AlertSeen(f"d-school-{i}", "school", at(0), at(wait)))
        # the same delivery seen again (a resend, another read): the earliest times stand
        alerts.append(AlertSeen(f"d-school-{i}", "school", at(300), at(wait + 500)))
    alerts.append(AlertSeen("d-hotel-1", "hotel", at(0)))  # never acknowledged
    alerts.append(AlertSeen("d-hotel-2", "hotel", at(10), at(5)))  # skewed clocks: zero
    rows = {r.agency_type: r for r in figures(alerts, [])}
    assert rows["school"].alerts_received == 4
    assert rows["school"].alerts_acknowledged == 4
    assert rows["school"].ack_p50_seconds == 20
    assert rows["school"].ack_p90_seconds == 40
    assert rows["hotel"].alerts_received == 2
    assert rows["hotel"].alerts_acknowledged == 1
    assert rows["hotel"].ack_p50_seconds == 0


def test_referrals_in_time_late_unanswered_by_the_routers_overdue_notices() -> None:
    offers = [
        OfferSeen("r1", "SHL-1", 1, "shelter", "completed"),
        OfferSeen("r2", "SHL-1", 1, "shelter", "rejected", answer_overdue=True),
        # r2 re-offered to the next shelter, unanswered and already overdue
        OfferSeen("r2", "SHL-2", 2, "shelter", "requested", answer_overdue=True),
        OfferSeen("r3", "SHL-3", 1, "shelter", "completed", completion_overdue=True),
        OfferSeen("r4", "SHL-3", 1, "shelter", "in-progress"),
        OfferSeen("r4", "SHL-3", 1, "shelter", "in-progress"),  # the same offer twice
        OfferSeen("r5", "SCH-1", 1, "school", "requested"),
    ]
    rows = {r.agency_type: r for r in figures([], offers)}
    shelter = rows["shelter"]
    assert shelter.referrals_offered == 5
    assert shelter.referrals_answered_in_time == 3  # r1, r3, r4
    assert shelter.referrals_answered_late == 1  # r2 at SHL-1
    assert shelter.referrals_unanswered == 1
    assert shelter.referrals_completed_in_time == 1
    assert shelter.referrals_completed_late == 1
    assert rows["school"].referrals_unanswered == 1
    assert [r.agency_type for r in figures([], offers)] == ["school", "shelter"]


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["school", "hotel"])),
        max_size=30,
    )
)
def test_every_delivery_is_counted_once_in_its_type(pairs: list[tuple[str, str]]) -> None:
    # a delivery id belongs to one agency, hence one type: key the type by the id
    alerts = [AlertSeen(d + t, t, at(0)) for d, t in pairs]
    rows = figures(alerts, [])
    assert sum(r.alerts_received for r in rows) == len({d + t for d, t in pairs})
