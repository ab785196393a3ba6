"""Who is within reach of a rescue: great-circle distance and the nearest
agencies of a type. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

from homeward.agencies import Agency, AgencyType

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # The fan-out has the same formula; services share no code but the library,
    # and a great-circle distance is well within any reach's tolerance.
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


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
