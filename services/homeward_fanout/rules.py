"""Who is in range: the radius schedule and the ring search. Pure functions.

The schedule is the Tuanyuan (团圆) platform's rule: the radius grows with the
time since the child was last seen. Up to 1 h 100 km, up to 2 h 200 km, up to
3 h 300 km, beyond that 500 km. It is data (RadiusSchedule), so a site can
configure its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homeward.agencies import Agency
from homeward.spatial import InRange, Ring, index_of

__all__ = ["InRange", "RadiusSchedule", "Ring", "agencies_in_ring"]


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


def agencies_in_ring(
    agencies: Sequence[Agency],
    lat: float,
    lon: float,
    inner_km: float,
    outer_km: float,
    types: frozenset[str] | None = None,
) -> Ring:
    """Agencies with inner_km < distance <= outer_km (inner_km < 0 includes the centre),
    of the given types (None: all), nearest first: the directory's spatial index."""
    return index_of(agencies).ring(lat, lon, inner_km, outer_km, types)
