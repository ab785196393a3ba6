from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward.geo import destination, haversine_km
from homeward_fanout.rules import RadiusSchedule, agencies_in_ring
from tests.unit.fanout.geo import CENTRE, agency_at


@pytest.mark.parametrize(
    ("hours", "km"),
    [
        (0, 100),
        (0.5, 100),
        (1.0, 100),
        (1.01, 200),
        (2.0, 200),
        (2.5, 300),
        (3.0, 300),
        (3.01, 500),
        (48, 500),
    ],
)
def test_default_schedule_follows_the_tuanyuan_rule(hours: float, km: int) -> None:
    assert RadiusSchedule().radius_km(hours) == km


def test_growth_hours() -> None:
    s = RadiusSchedule()
    assert [s.growth_hours(r) for r in (0, 100, 200, 300, 500)] == [0.0, 1.0, 2.0, 3.0, None]


def test_schedule_parses_env_form_and_rejects_bad_ones() -> None:
    assert RadiusSchedule.parse("0.5:50, 1:80, *:120") == RadiusSchedule(
        ((0.5, 50), (1.0, 80)), 120
    )
    with pytest.raises(ValueError):
        RadiusSchedule.parse("1:100,2:200")
    with pytest.raises(ValueError):
        RadiusSchedule.parse("2:100,1:200,*:300")


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(0, 360), st.floats(0.1, 2000))
def test_destination_helper_agrees_with_haversine(
    lat: float, lon: float, bearing: float, km: float
) -> None:
    lat2, lon2 = destination(lat, lon, bearing, km)
    assert haversine_km(lat, lon, lat2, lon2) == pytest.approx(km, rel=1e-6, abs=1e-6)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([100, 200, 300, 500]), st.sampled_from([-1, 1]), st.floats(0, 360)
        ),
        max_size=40,
    )
)
def test_ring_holds_exactly_the_agencies_within_it(spots: list[tuple[int, int, float]]) -> None:
    agencies = [agency_at(i, ring + side, bearing) for i, (ring, side, bearing) in enumerate(spots)]
    for outer in (100, 200, 300, 500):
        got = {r.agency.id for r in agencies_in_ring(agencies, *CENTRE, -1, outer)}
        want = {
            a.id for a, (ring, side, _) in zip(agencies, spots, strict=True) if ring + side <= outer
        }
        assert got == want
