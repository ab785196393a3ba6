"""A synthetic national directory (plainly fake agencies spread over a box the
size of eastern China): the 500 km ring and nearest-of-type queries of
homeward.spatial, beside the other index measured for the choice (scipy's
cKDTree ball query on unit vectors, the same exact distance filter after it)
and the scan of every agency the services did before.

    .venv/bin/python benchmarks/bench_directory.py [--agencies 1000000]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from homeward.agencies import Agency, AgencyType
from homeward.geo import EARTH_RADIUS_KM, haversine_km
from homeward.spatial import AgencyIndex, haversine_km_np

TYPES = list(AgencyType)
# Where the synthetic agencies are (latitude, longitude box) and where queries are asked.
BOX = ((20.0, 45.0), (100.0, 125.0))
ASKED = ((25.0, 40.0), (105.0, 120.0))


def synthetic(n: int, seed: int = 7) -> list[Agency]:
    """n fake agencies (ids SYN-…), a type each, uniform over BOX. model_construct:
    a million validated models would measure pydantic, not the index."""
    rng = random.Random(seed)
    (la0, la1), (lo0, lo1) = BOX
    return [
        Agency.model_construct(
            id=f"SYN-{i:07d}",
            type=TYPES[rng.randrange(len(TYPES))],
            name_zh=f"虚构机构 {i}",
            name_en=f"Fictional Agency {i}",
            latitude=rng.uniform(la0, la1),
            longitude=rng.uniform(lo0, lo1),
            admin_code="990000",
        )
        for i in range(n)
    ]


def _percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50": ms[len(ms) // 2],
        "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max": ms[-1],
    }


def _points(k: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    (la0, la1), (lo0, lo1) = ASKED
    return [(rng.uniform(la0, la1), rng.uniform(lo0, lo1)) for _ in range(k)]


def _timed(fn: Any, points: list[tuple[float, float]]) -> tuple[list[float], list[int]]:
    times, sizes = [], []
    for lat, lon in points:
        t0 = time.perf_counter()
        got = fn(lat, lon)
        times.append((time.perf_counter() - t0) * 1000)
        sizes.append(got)
    return times, sizes


def run(n: int = 1_000_000, queries: int = 200, scans: int = 5) -> dict[str, Any]:
    agencies = synthetic(n)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    index = AgencyIndex(agencies)
    build_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    points = _points(queries, 11)

    ring_ms, ring_sizes = _timed(lambda la, lo: len(index.ring(la, lo, -1, 500)), points)

    # The other index measured: one cKDTree ball query, then the same exact filter.
    lat = np.fromiter((a.latitude for a in agencies), np.float64, n)
    lon = np.fromiter((a.longitude for a in agencies), np.float64, n)
    p, lam = np.radians(lat), np.radians(lon)
    tree = cKDTree(np.stack([np.cos(p) * np.cos(lam), np.cos(p) * np.sin(lam), np.sin(p)], -1))
    chord = 2 * np.sin(500 / (2 * EARTH_RADIUS_KM)) * 1.000001

    def kd_ring(la: float, lo: float) -> int:
        pl, ll = np.radians(la), np.radians(lo)
        centre = [np.cos(pl) * np.cos(ll), np.cos(pl) * np.sin(ll), np.sin(pl)]
        idx = np.asarray(tree.query_ball_point(centre, chord), dtype=np.intp)
        d = haversine_km_np(la, lo, lat[idx], lon[idx])
        keep = d <= 500
        return len(idx[keep][np.argsort(d[keep], kind="stable")])

    kd_ms, _ = _timed(kd_ring, points[: queries // 2])

    def scan(la: float, lo: float) -> int:
        return sum(1 for a in agencies if haversine_km(la, lo, a.latitude, a.longitude) <= 500)

    scan_ms, _ = _timed(scan, points[:scans])

    kinds = [AgencyType.POLICE, AgencyType.HEALTH, AgencyType.COORDINATION_OFFICE]
    near_ms: list[float] = []
    for i, (la, lo) in enumerate(points):
        t = kinds[i % len(kinds)]
        t0 = time.perf_counter()
        index.nearest(la, lo, agency_type=t, max_km=500)
        near_ms.append((time.perf_counter() - t0) * 1000)
    # The router re-offers a rejected referral: the nearest not yet asked (5 asked).
    excl_ms: list[float] = []
    for la, lo in points[:50]:
        asked: set[str] = set()
        for _ in range(6):
            t0 = time.perf_counter()
            a = index.nearest(la, lo, agency_type=AgencyType.CIVIL_AFFAIRS, exclude=asked)
            excl_ms.append((time.perf_counter() - t0) * 1000)
            assert a is not None
            asked.add(a.id)
    return {
        "agencies": n,
        "build_s": build_s,
        "index_mb": index.nbytes() / 1e6,
        "build_peak_mb": peak / 1e6,
        "ring_500km": {
            "in_ring_p50": sorted(ring_sizes)[len(ring_sizes) // 2],
            "cells_ms": _percentiles(ring_ms),
            "kdtree_ms": _percentiles(kd_ms),
            "scan_ms": _percentiles(scan_ms),
        },
        "nearest_ms": _percentiles(near_ms),
        "nearest_excluding_ms": _percentiles(excl_ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agencies", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    print(json.dumps(run(args.agencies, args.queries), indent=2))


if __name__ == "__main__":
    main()
