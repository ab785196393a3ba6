"""Who is near, for a national directory: a ring query and a nearest-of-type query
that do not scan every agency.

- Rings: agencies sorted into 0.5-degree cells (numpy). A query takes the cells that
  overlap the ring's bounding box (contiguous slices of the sorted arrays), computes
  the great-circle distance of those candidates in one vectorised pass and keeps
  `inner < d <= outer`, nearest first (to outer/65535 km: a radix-sorted 16-bit key). Measured against a ball query of scipy's
  cKDTree on unit vectors (docs/scale.md): the cells were 4 to 7 times faster for a
  500 km ring, since the tree hands back a Python list of 100,000 indices.
- Nearest of a type: one scipy cKDTree per agency type on unit vectors (the chord
  length orders points as the great-circle distance does), asked for k candidates,
  k doubling while the exclusions or a tie at the k-th candidate leave it unsure.

Both are exact: membership and order come from the same haversine as everywhere
else (`geo.haversine_km`, vectorised), never from the cell or tree geometry,
which only picks candidates with a margin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from homeward.agencies import Agency, AgencyType
from homeward.geo import EARTH_RADIUS_KM

CELL_DEG = 0.5
_ROWS = int(180 / CELL_DEG)
_COLS = int(360 / CELL_DEG)
# Candidate bounds are widened by this factor, so rounding never drops an agency
# that the exact distance puts inside.
_MARGIN = 1.000001

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]


def _a_of(km: float) -> float:
    """The haversine's `a` at a distance: sin²(d / 2R), for d up to half the globe."""
    half = min(max(km, 0.0) / (2 * EARTH_RADIUS_KM), np.pi / 2)
    return float(np.sin(half) ** 2)


def haversine_km_np(lat1: float, lon1: float, lat2: Floats, lon2: Floats) -> Floats:
    """geo.haversine_km from one point to many (the same formula, element-wise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: Floats = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return out


def _unit_vectors(lat: Floats, lon: Floats) -> Floats:
    p, lam = np.radians(lat), np.radians(lon)
    c = np.cos(p)
    out: Floats = np.stack([c * np.cos(lam), c * np.sin(lam), np.sin(p)], axis=-1)
    return out


@dataclass(frozen=True)
class InRange:
    agency: Agency
    distance_km: float


@dataclass(frozen=True)
class Ring:
    """A ring query's answer: directory positions and distances, nearest first.
    Iterating makes the InRange objects one at a time (100,000 of them cost more
    than the query)."""

    agencies: Sequence[Agency]
    positions: Ints
    distances_km: Floats

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Iterator[InRange]:
        for pos, d in zip(self.positions.tolist(), self.distances_km.tolist(), strict=True):
            yield InRange(self.agencies[pos], d)


class AgencyIndex:
    """The spatial index of one directory (a sequence of agencies, fixed once indexed)."""

    def __init__(self, agencies: Sequence[Agency]) -> None:
        self.agencies = agencies
        n = self._size = len(agencies)
        lat = np.fromiter((a.latitude for a in agencies), np.float64, n)
        lon = np.fromiter((a.longitude for a in agencies), np.float64, n)
        types = [t.value for t in AgencyType]
        self._type_code = {t: i for i, t in enumerate(types)}
        kind = np.fromiter((self._type_code[a.type.value] for a in agencies), np.int8, n)
        row = np.clip(np.floor((lat + 90) / CELL_DEG).astype(np.intp), 0, _ROWS - 1)
        col = np.floor((lon + 180) / CELL_DEG).astype(np.intp) % _COLS
        cell = row * _COLS + col
        # Stable: within a cell, directory order (ties in distance keep it).
        self._order: Ints = np.argsort(cell, kind="stable")
        # In slot order, what the ring's haversine needs of each agency, precomputed.
        self._phi: Floats = np.radians(lat[self._order])
        self._lam: Floats = np.radians(lon[self._order])
        self._cos_phi: Floats = np.cos(self._phi)
        self._kind = kind[self._order]
        self._starts: Ints = np.searchsorted(cell[self._order], np.arange(_ROWS * _COLS + 1))
        self._by_type: dict[int, tuple[Ints, cKDTree]] = {}
        xyz = _unit_vectors(lat, lon)
        for code in np.unique(kind).tolist():
            members: Ints = np.flatnonzero(kind == code)
            self._by_type[code] = (members, cKDTree(xyz[members]))
        self._lat_by_pos, self._lon_by_pos = lat, lon

    def __len__(self) -> int:
        return self._size  # as indexed: a directory grown since needs a new index

    def nbytes(self) -> int:
        """Bytes held by the arrays and trees (not the Agency objects themselves)."""
        arrays = (self._order, self._phi, self._lam, self._cos_phi, self._kind, self._starts)
        total = sum(a.nbytes for a in arrays) + self._lat_by_pos.nbytes + self._lon_by_pos.nbytes
        for members, tree in self._by_type.values():
            total += members.nbytes + tree.data.nbytes + tree.indices.nbytes
        return int(total)

    def _candidates(self, lat: float, lon: float, km: float) -> Ints:
        """Sorted-array slots of every agency in the cells a km-ring's box touches."""
        dlat = np.degrees(km / EARTH_RADIUS_KM) * _MARGIN + CELL_DEG * 1e-6
        lat0, lat1 = lat - dlat, lat + dlat
        r0 = max(0, int(np.floor((lat0 + 90) / CELL_DEG)))
        r1 = min(_ROWS - 1, int(np.floor((lat1 + 90) / CELL_DEG)))
        widest = max(abs(lat0), abs(lat1))
        if widest >= 89.0:  # near a pole every longitude is close
            spans = [(0, _COLS - 1)]
        else:
            dlon = dlat / np.cos(np.radians(widest))
            if dlon >= 180.0:
                spans = [(0, _COLS - 1)]
            else:
                c0 = int(np.floor((lon - dlon + 180) / CELL_DEG))
                c1 = int(np.floor((lon + dlon + 180) / CELL_DEG))
                if c1 - c0 >= _COLS - 1:
                    spans = [(0, _COLS - 1)]
                elif c0 < 0:  # across the antimeridian: two spans
                    spans = [(c0 % _COLS, _COLS - 1), (0, c1)]
                elif c1 >= _COLS:
                    spans = [(c0, _COLS - 1), (0, c1 % _COLS)]
                else:
                    spans = [(c0, c1)]
        starts = self._starts
        pieces = [
            np.arange(starts[r * _COLS + a], starts[r * _COLS + b + 1])
            for r in range(r0, r1 + 1)
            for a, b in spans
        ]
        return np.concatenate(pieces) if pieces else np.empty(0, np.intp)

    def ring(
        self,
        lat: float,
        lon: float,
        inner_km: float,
        outer_km: float,
        types: Collection[str] | None = None,
    ) -> Ring:
        """Agencies with inner_km < distance <= outer_km (inner_km < 0 includes the
        centre), of the given types (None or empty: all), nearest first."""
        slots = self._candidates(lat, lon, outer_km)
        if types:
            codes = [self._type_code[t] for t in types if t in self._type_code]
            slots = slots[np.isin(self._kind[slots], codes)]
        # haversine_km's own terms: a = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2), d = 2R asin √a.
        # d grows with a, so the ring is a range of a; asin only for the agencies kept.
        phi1 = np.radians(lat)
        a = (
            np.sin((self._phi[slots] - phi1) / 2) ** 2
            + np.cos(phi1)
            * self._cos_phi[slots]
            * np.sin((self._lam[slots] - np.radians(lon)) / 2) ** 2
        )
        keep = a <= _a_of(outer_km)
        if inner_km >= 0:
            keep &= a > _a_of(inner_km)
        slots = slots[keep]
        d = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a[keep])))
        # Nearest first in bands of outer/65535 km (7.6 m for 500 km): a 16-bit key is
        # radix-sorted by numpy, 10 times faster than sorting the floats; within a band,
        # the slots' order (cell, then directory). distances_km stays exact.
        band = np.minimum(d * (65535.0 / max(outer_km, 1e-9)), 65535.0).astype(np.uint16)
        by_distance = np.argsort(band, kind="stable")
        return Ring(self.agencies, self._order[slots[by_distance]], d[by_distance])

    def nearest(
        self,
        lat: float,
        lon: float,
        *,
        agency_type: AgencyType,
        max_km: float | None = None,
        exclude: Collection[str] = (),
    ) -> Agency | None:
        """The nearest agency of the type (ties: the lower id) within max_km (None:
        any distance), leaving out the ids in `exclude`."""
        found = self._by_type.get(self._type_code[agency_type.value])
        if found is None:
            return None
        members, tree = found
        point = _unit_vectors(np.array([lat]), np.array([lon]))[0]
        k = min(len(members), len(exclude) + 2)
        while True:
            _, hits = tree.query(point, k=k)
            hits = np.atleast_1d(hits)
            pos = members[hits[hits < len(members)]]
            d = haversine_km_np(lat, lon, self._lat_by_pos[pos], self._lon_by_pos[pos])
            best: tuple[float, str, Agency] | None = None
            for p, dist in zip(pos.tolist(), d.tolist(), strict=True):
                a = self.agencies[p]
                if a.id in exclude or (max_km is not None and dist > max_km):
                    continue
                if best is None or (dist, a.id) < best[:2]:
                    best = (dist, a.id, a)
            exhausted = k >= len(members)
            # Sure once an agency was found nearer than the farthest candidate (an
            # equal one beyond k could have the lower id), or no candidate is left.
            if exhausted or (best is not None and best[0] < float(d.max())):
                return best[2] if best else None
            if best is None and max_km is not None and float(d.max()) > max_km:
                return None  # every agency beyond these is farther still
            k = min(len(members), k * 2)


def index_of(agencies: Sequence[Agency]) -> AgencyIndex:
    """The index of a directory, built once per Directory object (kept on it) and
    again when its length changed; a plain list gets a new one each call."""
    cached: AgencyIndex | None = getattr(agencies, "_spatial_index", None)
    if cached is not None and len(cached) == len(agencies):
        return cached
    index = AgencyIndex(agencies)
    # A list or tuple has nowhere to keep it: it is built again next time.
    with contextlib.suppress(AttributeError):
        agencies._spatial_index = index  # type: ignore[attr-defined]
    return index
