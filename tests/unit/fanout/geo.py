"""Test helpers: place synthetic agencies at a given distance and bearing."""

from __future__ import annotations

import math

from homeward.agencies import Agency, AgencyType
from homeward_fanout.rules import EARTH_RADIUS_KM

CENTRE = (30.0, 104.0)


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    d = km / EARTH_RADIUS_KM
    b = math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


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
