"""Test helpers: place synthetic agencies at a given distance and bearing."""

from __future__ import annotations

from homeward.agencies import Agency, AgencyType
from homeward.geo import destination

CENTRE = (30.0, 104.0)


def agency_at(
    i: int, km: float, bearing: float = 45.0, type_: AgencyType = AgencyType.POLICE
) -> Agency:
    return agency(i, *destination(*CENTRE, bearing, km), type_)


def agency(i: int, lat: float, lon: float, type_: AgencyType = AgencyType.POLICE) -> Agency:
    """A plainly fake agency TST-<i> of a type at a place."""
    return Agency(
        id=f"TST-{i:05d}",
        type=type_,
        name_zh=f"测试机构 {i}",
        name_en=f"Test Agency {i}",
        latitude=lat,
        longitude=lon,
        admin_code="990000",
    )
