"""Who is in range: the radius schedule and the ring search. Pure functions.

The schedule is the Tuanyuan (团圆) platform's rule: the radius grows with the
time since the child was last seen. Up to 1 h 100 km, up to 2 h 200 km, up to
3 h 300 km, beyond that 500 km. It is data (RadiusSchedule), so a site can
configure its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from homeward.agencies import Agency

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; within 0.5 % of the ellipsoid, far inside any ring's tolerance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def destination(lat: float, lon: float, bearing_deg: float, km: float) -> tuple[float, float]:
    """The point `km` along the great circle from (lat, lon) at `bearing_deg`:
    the inverse of haversine_km, for placing agencies at known distances."""
    phi1, lam1, theta = math.radians(lat), math.radians(lon), math.radians(bearing_deg)
    delta = km / EARTH_RADIUS_KM
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    )
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), (math.degrees(lam2) + 540.0) % 360.0 - 180.0


@dataclass(frozen=True)
class RadiusSchedule:
    """Steps of (up to this many hours since last seen, radius km), then a final radius."""

    steps: tuple[tuple[float, int], ...] = ((1.0, 100), (2.0, 200), (3.0, 300))
    beyond_km: int = 500

    def __post_init__(self) -> None:
        hours = [h for h, _ in self.steps]
        radii = [r for _, r in self.steps] + [self.beyond_km]
        if hours != sorted(hours) or any(h <= 0 for h in hours):
            raise ValueError("schedule hours must be positive and increasing")
        if radii != sorted(radii) or radii[0] <= 0:
            raise ValueError("schedule radii must be positive and non-decreasing")

    @classmethod
    def parse(cls, text: str) -> RadiusSchedule:
        """'1:100,2:200,3:300,*:500' -> a schedule (the env-var form)."""
        steps: list[tuple[float, int]] = []
        beyond = None
        for part in text.split(","):
            hours, _, km = part.strip().partition(":")
            if hours.strip() == "*":
                beyond = int(km)
            else:
                steps.append((float(hours), int(km)))
        if beyond is None:
            raise ValueError("schedule needs a final '*:<km>' step")
        return cls(tuple(steps), beyond)

    def radius_km(self, hours_since_last_seen: float) -> int:
        for limit, km in self.steps:
            if hours_since_last_seen <= limit:
                return km
        return self.beyond_km

    def growth_hours(self, radius_km: int) -> float | None:
        """Hours since last seen after which the radius exceeds radius_km; None if it never does."""
        if radius_km >= self.beyond_km:
            return None
        limits = [limit for limit, km in self.steps if km <= radius_km]
        return max(limits) if limits else 0.0


@dataclass(frozen=True)
class InRange:
    agency: Agency
    distance_km: float


def agencies_in_ring(
    agencies: Iterable[Agency],
    lat: float,
    lon: float,
    inner_km: float,
    outer_km: float,
    types: frozenset[str] | None = None,
) -> list[InRange]:
    """Agencies with inner_km < distance <= outer_km (inner_km < 0 includes the centre),
    of the given types (None: all), nearest first."""
    found = []
    for agency in agencies:
        if types and agency.type.value not in types:
            continue
        d = haversine_km(lat, lon, agency.latitude, agency.longitude)
        if inner_km < d <= outer_km:
            found.append(InRange(agency, d))
    found.sort(key=lambda r: (r.distance_km, r.agency.id))
    return found
