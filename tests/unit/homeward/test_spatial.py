"""The directory's spatial index answers exactly what a scan of every agency would:
rings (edges to 10 m, the antimeridian, the poles) and nearest-of-type."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.agencies import Agency, AgencyType, Directory
from homeward.geo import destination, haversine_km
from homeward.spatial import AgencyIndex, index_of
from tests.unit.fanout.geo import agency

TYPES = list(AgencyType)


def scan_ring(
    agencies: list[Agency], lat: float, lon: float, inner: float, outer: float
) -> set[str]:
    return {
        a.id for a in agencies if inner < haversine_km(lat, lon, a.latitude, a.longitude) <= outer
    }


def scan_nearest(
    agencies: list[Agency],
    lat: float,
    lon: float,
    type_: AgencyType,
    max_km: float | None,
    exclude: set[str],
) -> str | None:
    best = min(
        (
            (haversine_km(lat, lon, a.latitude, a.longitude), a.id)
            for a in agencies
            if a.type == type_ and a.id not in exclude
        ),
        default=None,
    )
    if best is None or (max_km is not None and best[0] > max_km):
        return None
    return best[1]


points = st.tuples(st.floats(-90, 90), st.floats(-180, 180))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(points, st.sampled_from(TYPES)), min_size=1, max_size=80),
    points,
    st.floats(-1, 3000),
    st.floats(0.01, 6000),
)
def test_a_ring_is_exactly_the_scan(
    spots: list[tuple[tuple[float, float], AgencyType]],
    centre: tuple[float, float],
    inner: float,
    width: float,
) -> None:
    agencies = [agency(i, lat, lon, t) for i, ((lat, lon), t) in enumerate(spots)]
    ring = AgencyIndex(agencies).ring(*centre, inner, inner + width)
    got = [r.agency.id for r in ring]
    assert set(got) == scan_ring(agencies, *centre, inner, inner + width)
    # Nearest first, to the band of outer / 65535 km the sort keys on.
    band = (inner + width) / 65535
    d = list(ring.distances_km)
    assert all(b >= a - band for a, b in itertools.pairwise(d))


@settings(max_examples=100, deadline=None)
@given(
    points,
    st.sampled_from([1.0, 100.0, 200.0, 300.0, 500.0, 2000.0]),
    st.lists(st.floats(0, 360), min_size=1, max_size=30),
)
def test_agencies_10_m_inside_are_in_and_10_m_outside_are_out(
    centre: tuple[float, float], outer: float, bearings: list[float]
) -> None:
    agencies = []
    for i, b in enumerate(bearings):
        agencies.append(agency(2 * i, *destination(*centre, b, outer - 0.01)))
        agencies.append(agency(2 * i + 1, *destination(*centre, b, outer + 0.01)))
    got = {r.agency.id for r in AgencyIndex(agencies).ring(*centre, -1, outer)}
    assert got == {a.id for a in agencies[0::2]}


@pytest.mark.parametrize(
    "centre", [(30.0, 179.9), (-12.0, -179.95), (89.9, 10.0), (-89.99, -120.0), (0.0, 0.0)]
)
def test_rings_across_the_antimeridian_and_at_the_poles(centre: tuple[float, float]) -> None:
    agencies = [
        agency(i * 36 + j, *destination(*centre, j * 10.0, km))
        for i, km in enumerate((5, 99.99, 100.01, 250, 499.99, 500.01))
        for j in range(36)
    ]
    index = AgencyIndex(agencies)
    for inner, outer in ((-1, 100), (100, 500), (-1, 500)):
        got = {r.agency.id for r in index.ring(*centre, inner, outer)}
        assert got == scan_ring(agencies, *centre, inner, outer)


def test_a_type_filter_keeps_only_those_types() -> None:
    agencies = [agency(i, 30.0, 104.0 + i * 0.01, TYPES[i % len(TYPES)]) for i in range(60)]
    ring = AgencyIndex(agencies).ring(30.0, 104.0, -1, 100, {"police", "education"})
    assert {r.agency.type.value for r in ring} == {"police", "education"}
    assert len(ring) == sum(1 for a in agencies if a.type.value in {"police", "education"})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(points, st.sampled_from(TYPES[:3])), min_size=1, max_size=60),
    points,
    st.sampled_from(TYPES[:3]),
    st.one_of(st.none(), st.floats(0, 5000)),
    st.sets(st.integers(0, 59), max_size=20),
)
def test_nearest_of_a_type_is_exactly_the_scan(
    spots: list[tuple[tuple[float, float], AgencyType]],
    centre: tuple[float, float],
    type_: AgencyType,
    max_km: float | None,
    excluded: set[int],
) -> None:
    agencies = [agency(i, lat, lon, t) for i, ((lat, lon), t) in enumerate(spots)]
    exclude = {f"TST-{i:05d}" for i in excluded}
    found = AgencyIndex(agencies).nearest(
        *centre, agency_type=type_, max_km=max_km, exclude=exclude
    )
    want = scan_nearest(agencies, *centre, type_, max_km, exclude)
    assert (found.id if found else None) == want


def test_of_two_agencies_at_the_same_place_the_nearest_is_the_lower_id() -> None:
    agencies = [agency(i, 30.0, 104.0) for i in (7, 3, 5)] + [agency(1, 31.0, 104.0)]
    index = AgencyIndex(agencies)
    found = index.nearest(30.0, 104.0, agency_type=AgencyType.POLICE)
    assert found is not None and found.id == "TST-00003"
    again = index.nearest(30.0, 104.0, agency_type=AgencyType.POLICE, exclude={"TST-00003"})
    assert again is not None and again.id == "TST-00005"


def test_a_directory_keeps_its_index_and_a_longer_one_gets_a_new_one() -> None:
    directory = Directory([agency(i, 30.0, 104.0 + i) for i in range(5)])
    first = index_of(directory)
    assert index_of(directory) is first
    directory.append(agency(9, 30.0, 110.0))
    assert index_of(directory) is not first and len(index_of(directory)) == 6
