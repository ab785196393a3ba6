"""The synthetic demo directory: deploy/demo/agencies.csv covers every agency
type and every search ring, is plainly fictional, and regenerates byte for byte."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from homeward import paths
from homeward.agencies import AgencyType, Directory, load_directory
from homeward_demo import directory as demo_directory

RINGS_KM = (100, 200, 300, 500)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def ring_of(km: float) -> int | None:
    """The smallest ring that reaches km; None beyond the last."""
    return next((r for r in RINGS_KM if km <= r), None)


@pytest.fixture(scope="module")
def demo() -> Directory:
    return load_directory(paths.demo_directory_file())


def _km(agency: object) -> float:
    return haversine_km(*demo_directory.CENTRE, agency.latitude, agency.longitude)  # type: ignore[attr-defined]


def test_the_demo_file_has_every_agency_type(demo: Directory) -> None:
    assert len(demo) == 240
    assert {a.type for a in demo} == set(AgencyType)


def test_every_ring_and_beyond_has_agencies(demo: Directory) -> None:
    rings = Counter(ring_of(_km(a)) for a in demo)
    for ring in (*RINGS_KM, None):
        assert rings[ring] >= 5, f"ring {ring}: {rings[ring]} agencies"
    assert max(_km(a) for a in demo) <= demo_directory.MAX_DISTANCE_KM


def test_every_type_is_present_within_100_km(demo: Directory) -> None:
    near = {a.type for a in demo if _km(a) <= 100}
    assert near == set(AgencyType)


def test_no_agency_sits_on_a_ring_boundary(demo: Directory) -> None:
    margin = demo_directory.BOUNDARY_MARGIN_KM - 0.5
    for agency in demo:
        assert all(abs(_km(agency) - r) > margin for r in RINGS_KM), agency.id


def test_the_demo_data_is_plainly_fictional(demo: Directory) -> None:
    for agency in demo:
        assert agency.admin_code.startswith("99"), agency.id
        prefix, number = agency.id.split("-")
        assert prefix == demo_directory.ID_PREFIX[agency.type]
        assert len(number) == 4 and number.isdigit()
        assert str(int(number)) in agency.name_en and str(int(number)) in agency.name_zh
        assert any(p_en in agency.name_en for _, p_en in demo_directory.PLACES), agency.name_en
    assert len({a.name_en for a in demo}) == len(demo)


def test_most_agencies_read_their_inbox_and_a_few_take_webhooks(demo: Directory) -> None:
    modes = Counter(a.delivery_mode.value for a in demo)
    assert 0 < modes["webhook"] < modes["inbox"] / 5


def test_regenerating_with_the_seed_gives_the_same_file(tmp_path: Path) -> None:
    out = demo_directory.write_csv(tmp_path / "agencies.csv")
    assert out.read_bytes() == paths.demo_directory_file().read_bytes()
    assert list(load_directory(out)) == demo_directory.generate()


def test_another_seed_gives_another_directory_with_the_same_coverage() -> None:
    other = demo_directory.generate(seed=8, n=64)
    assert other != demo_directory.generate(seed=7, n=64)
    assert len(other) == 64
    assert {a.type for a in other} == set(AgencyType)
    assert {a.type for a in other if _km(a) <= 100} == set(AgencyType)
    assert {ring_of(_km(a)) for a in other} == {*RINGS_KM, None}


def test_too_few_agencies_to_cover_everything_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        demo_directory.generate(n=20)


def test_the_module_entry_point_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "demo.csv"
    done = subprocess.run(
        [sys.executable, "-m", "homeward_demo.directory", str(out), "--count", "40"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "40" in done.stdout
    assert len(load_directory(out)) == 40
