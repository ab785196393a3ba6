"""Who is within reach of a rescue: great-circle distance and the nearest
agencies of a type. Pure functions."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from homeward.agencies import Agency, AgencyType
from homeward.spatial import index_of


def nearest(
    agencies: Sequence[Agency],
    lat: float,
    lon: float,
    *,
    agency_type: AgencyType,
    max_km: float | None = None,
    exclude: Collection[str] = (),
) -> Agency | None:
    """The nearest agency of the type (ties: the lower id) within max_km (None:
    any distance), leaving out the ids in `exclude`: the directory's spatial index."""
    return index_of(agencies).nearest(
        lat, lon, agency_type=agency_type, max_km=max_km, exclude=exclude
    )
