"""Who is within reach of a rescue: great-circle distance and the nearest
agencies of a type. Pure functions."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from homeward.agencies import Agency, AgencyType
from homeward.geo import haversine_km


def nearest(
    agencies: Iterable[Agency],
    lat: float,
    lon: float,
    *,
    agency_type: AgencyType,
    max_km: float | None = None,
    exclude: Collection[str] = (),
) -> Agency | None:
    """The nearest agency of the type (ties: the lower id) within max_km (None:
    any distance), leaving out the ids in `exclude`."""
    best: tuple[float, str, Agency] | None = None
    for a in agencies:
        if a.type != agency_type or a.id in exclude:
            continue
        d = haversine_km(lat, lon, a.latitude, a.longitude)
        if max_km is not None and d > max_km:
            continue
        if best is None or (d, a.id) < best[:2]:
            best = (d, a.id, a)
    return best[2] if best else None
