"""The demo's closing figures."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from homeward.agencies import Agency
from homeward_agency.fleet import FleetStats, quantile
from homeward_demo.monitor import Observed
from homeward_demo.reach import GATEWAY, SDK, WEBHOOK, channel_of
from homeward_demo.reports import DeskStats


def build(
    obs: Observed,
    marks: dict[str, str],
    fleet: FleetStats | None,
    initial_ring: int,
    desk: DeskStats | None = None,
    health: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    channels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    alert_id = marks["alert"]
    alert_deliveries = [s for s in obs.deliveries.values() if s.source_event_id == alert_id]
    # Latency from intake accepting an event to its inbox write: the first ring
    # of the alert and every update, sighting and cancellation. Deliveries made
    # later by a widening are not latencies of acceptance, so they are left out.
    timed_seen = [
        s
        for s in obs.deliveries.values()
        if s.source_event_id != alert_id or s.ring_km == initial_ring
    ]
    timed = [s.latency_ms for s in timed_seen]
    by_kind: dict[str, list[float]] = {}
    for seen in timed_seen:
        by_kind.setdefault(seen.kind, []).append(seen.latency_ms)
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
            # The cancellation is the router's (from the rescue): two hops, not one.
            "p50_by_kind": {k: quantile(v, 0.5) for k, v in sorted(by_kind.items())},
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
        **referral_figures(obs),
        "reports_acknowledged_s": dict(sorted(desk.acknowledged.items())) if desk else {},
        "reports_overdue": sorted(obs.reports_overdue),
        **(health or {}),
        **(audit or {}),
        **({"channels": channels} if channels else {}),
    }


def channels(obs: Observed, agencies: Iterable[Agency], received: dict[str, Any]) -> dict[str, Any]:
    """Which way each agency type received: the SDK's from the inbox topics
    (what the fan-out and router wrote to its agencies), webhook and gateway
    as the demo's agencies on those ways counted them."""
    way = {a.id: channel_of(a) for a in agencies}
    sdk_types: dict[str, set[str]] = {}
    for seen in obs.deliveries.values():
        if way.get(seen.agency_id, SDK) == SDK:
            sdk_types.setdefault(seen.agency_type, set()).add(seen.agency_id)
    out: dict[str, Any] = {
        SDK: {
            "agencies": sum(1 for w in way.values() if w == SDK),
            "agency_types_reached": sorted(sdk_types),
            "agencies_reached": sum(len(v) for v in sdk_types.values()),
        }
    }
    out.update(received)
    every = {a.type.value for a in agencies}
    covered = set().union(*(set(c["agency_types_reached"]) for c in out.values()))
    out["agency_types_without_a_way"] = sorted(every - covered)
    return out


def referral_figures(obs: Observed) -> dict[str, Any]:
    refs = obs.referrals.values()
    answered = [r.first_answer_at - r.requested_at for r in refs if r.first_answer_at]
    return {
        "referrals": len(obs.referrals),
        "referrals_by_state": dict(sorted(Counter(r.status.value for r in refs).items())),
        "referrals_by_type": dict(sorted(Counter(r.agency_type for r in refs).items())),
        "time_to_first_answer_s": {
            "answered": len(answered),
            "p50": quantile(answered, 0.5),
            "max": max(answered) if answered else None,
        },
        "reoffered": sorted(
            f"{r.rule_id} (offer {r.offers}, now {r.agency_id})" for r in refs if r.offers > 1
        ),
        "overdue": sorted(f"{o.rule_id} at {o.agency_id} ({o.phase})" for o in obs.overdue),
        "referrals_escalated": sorted(e.rule_id for e in obs.referral_escalations),
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
        "  p50 by kind: "
        + ", ".join(f"{k} {fmt(v)}" for k, v in lat["p50_by_kind"].items())
        + " (the cancellation goes through the referral router first)",
        f"acknowledged alert deliveries: {s['alert_deliveries_acknowledged']}/{s['agencies_reached']}"
        f"; resent copies: {s['resent_copies']}; escalated to the coordination office: "
        f"{', '.join(s['escalated']) or 'none'}",
        f"inbox records: {s['inbox_records']}; duplicates dropped by subscribers: "
        f"{s['duplicates_dropped_by_subscribers']}; acknowledgements sent: {s['acks_sent']}",
    ]
    if s["referrals"]:
        first = s["time_to_first_answer_s"]
        secs = lambda v: "n/a" if v is None else f"{v:.1f} s"  # noqa: E731
        lines += [
            f"referrals: {s['referrals']}; by state: "
            + ", ".join(f"{k} {v}" for k, v in s["referrals_by_state"].items()),
            "  by agency type: " + ", ".join(f"{k} {v}" for k, v in s["referrals_by_type"].items()),
            f"  time to first answer ({first['answered']} answered): p50 {secs(first['p50'])}, "
            f"max {secs(first['max'])}",
            f"  re-offered after a rejection: {', '.join(s['reoffered']) or 'none'}",
            f"  overdue (to the coordination office): {', '.join(s['overdue']) or 'none'}",
            f"  escalated (no agency left): {', '.join(s['referrals_escalated']) or 'none'}",
        ]
    acked = s["reports_acknowledged_s"]
    if acked or s["reports_overdue"]:
        lines.append(
            "mandatory reports: acknowledged by police: "
            + (", ".join(f"{k} in {v * 1000:.0f} ms" for k, v in acked.items()) or "none")
            + "; overdue (to the coordination office): "
            + (", ".join(s["reports_overdue"]) or "none")
        )
    if "health_records_published" in s:
        lines.append(
            f"health records: {s['health_records_published']} published; anomalies by rule: "
            + (", ".join(f"{k} {v}" for k, v in s["anomalies_by_rule"].items()) or "none")
            + f"; planted found {len(s['planted_found'])}/{len(s['planted'])}"
            + f"; false alarms: {s['false_alarms']}"
        )
    if "audit_entries_chained" in s:
        lines.append(audit_line(s))
    if "channels" in s:
        lines += channel_lines(s["channels"])
    return "\n".join(lines)


def channel_lines(c: dict[str, Any]) -> list[str]:
    fmt = lambda v: "n/a" if v is None else f"{v:.0f} ms"  # noqa: E731
    names = {SDK: "SDK (Kafka)", WEBHOOK: "signed webhook", GATEWAY: "gateway live stream (SSE)"}
    lines = ["how agencies received (every type through at least one way):"]
    for way in (SDK, WEBHOOK, GATEWAY):
        ch = c.get(way)
        if not ch:
            continue
        line = (
            f"  {names[way]}: {ch['agencies_reached']} of {ch['agencies']} agencies reached, "
            f"{len(ch['agency_types_reached'])} types ({', '.join(ch['agency_types_reached'])})"
        )
        if "latency_ms" in ch:
            lat = ch["latency_ms"]
            line += (
                f"; intake accepted -> received p50 {fmt(lat['p50'])}, p99 {fmt(lat['p99'])} "
                f"({lat['samples']}); acks {ch['acks_sent']}, answers {ch['answers_sent']}, "
                f"copies dropped {ch['duplicates_dropped']}, bad signatures "
                f"{ch['bad_signatures']}, HTTP errors {ch['http_errors']}"
            )
        lines.append(line)
    if c.get("agency_types_without_a_way"):
        lines.append("  NOT REACHED by any way: " + ", ".join(c["agency_types_without_a_way"]))
    return lines


def audit_line(s: dict[str, Any]) -> str:
    head = (
        f"audit record: {s['audit_entries_chained']} entries chained "
        f"(of {s['audit_entries_written']} intake wrote), {s['audit_checkpoints']} signed "
        "checkpoints; "
    )
    if s["audit_first_bad"]:
        return head + f"chain NOT verified: FIRST BAD {s['audit_first_bad']}"
    if not s["audit_chain_settled"]:
        return head + "chain verified so far, but the sequencer had not chained every entry"
    return head + "chain verified"
