"""The demo's closing figures."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from homeward_agency.fleet import FleetStats, quantile
from homeward_demo.monitor import Observed


def build(
    obs: Observed, marks: dict[str, str], fleet: FleetStats | None, initial_ring: int
) -> dict[str, Any]:
    alert_id = marks["alert"]
    alert_deliveries = [s for s in obs.deliveries.values() if s.source_event_id == alert_id]
    # Latency from intake accepting an event to its inbox write: the first ring
    # of the alert and every update, sighting and cancellation. Deliveries made
    # later by a widening are not latencies of acceptance, so they are left out.
    timed = [
        s.latency_ms
        for s in obs.deliveries.values()
        if s.source_event_id != alert_id or s.ring_km == initial_ring
    ]
    return {
        "agencies_reached": len(alert_deliveries),
        "per_ring_km": dict(sorted(Counter(s.ring_km for s in alert_deliveries).items())),
        "per_type": dict(sorted(Counter(s.agency_type for s in alert_deliveries).items())),
        "deliveries_by_kind": dict(Counter(s.kind for s in obs.deliveries.values())),
        "fanout_latency_ms": {
            "samples": len(timed),
            "p50": quantile(timed, 0.5),
            "p99": quantile(timed, 0.99),
            "mean": statistics.fmean(timed) if timed else None,
        },
        "alert_deliveries_acknowledged": sum(
            1
            for did, s in obs.deliveries.items()
            if s.source_event_id == alert_id and did in obs.acked
        ),
        "resent_copies": obs.resends,
        "escalated": sorted({e.agency_id for e in obs.escalations}),
        "inbox_records": obs.copies,
        "duplicates_dropped_by_subscribers": fleet.duplicates_dropped if fleet else None,
        "acks_sent": fleet.acks_sent if fleet else None,
    }


def render(s: dict[str, Any]) -> str:
    lat = s["fanout_latency_ms"]
    fmt = lambda v: "n/a" if v is None else f"{v:.0f} ms"  # noqa: E731
    lines = [
        "",
        "=== Homeward demo: summary ===",
        f"agencies reached by the alert: {s['agencies_reached']}",
        "  per ring:  " + ", ".join(f"{k} km: {v}" for k, v in s["per_ring_km"].items()),
        "  per type:  " + ", ".join(f"{k} {v}" for k, v in s["per_type"].items()),
        "deliveries by kind: " + ", ".join(f"{k} {v}" for k, v in s["deliveries_by_kind"].items()),
        f"fan-out latency (intake accepted -> inbox write), {lat['samples']} deliveries: "
        f"p50 {fmt(lat['p50'])}, p99 {fmt(lat['p99'])}",
        f"acknowledged alert deliveries: {s['alert_deliveries_acknowledged']}/{s['agencies_reached']}"
        f"; resent copies: {s['resent_copies']}; escalated to the coordination office: "
        f"{', '.join(s['escalated']) or 'none'}",
        f"inbox records: {s['inbox_records']}; duplicates dropped by subscribers: "
        f"{s['duplicates_dropped_by_subscribers']}; acknowledgements sent: {s['acks_sent']}",
    ]
    return "\n".join(lines)
