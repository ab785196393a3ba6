"""Test helpers: place synthetic agencies at a given distance and bearing."""

from __future__ import annotations

from homeward.agencies import Agency, AgencyType
from homeward.geo import destination

CENTRE = (30.0, 104.0)


def agency_at(
    i: int, km: float, bearing: float = 45.0, type_: AgencyType = AgencyType.POLICE
) -> Agency:
    lat, lon = destination(*CENTRE, bearing, km)
    return Agency(
        id=f"TST-{i:05d}",
        type=type_,
        name_zh=f"测试机构 {i}",
        name_en=f"Test Agency {i}",
        latitude=lat,
        longitude=lon,
        admin_code="990000",
    )
