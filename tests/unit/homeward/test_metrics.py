"""The metric declarations against the agreed catalogue (dashboards and alert
rules use exactly these names and labels) and Prometheus's naming rules."""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram, Info

from homeward import metrics

# name (as declared) -> (kind, labels): the catalogue in docs/operations.md.
CATALOGUE: dict[str, tuple[type, tuple[str, ...]]] = {
    "homeward_build": (Info, ()),
    "homeward_up": (Gauge, ("service",)),
    "homeward_ready": (Gauge, ("service",)),
    "homeward_events_consumed": (Counter, ("service", "topic", "type")),
    "homeward_events_produced": (Counter, ("service", "topic", "type")),
    "homeward_handling_seconds": (Histogram, ("service", "type")),
    "homeward_fanout_latency_seconds": (Histogram, ("kind",)),
    "homeward_deliveries": (Counter, ("agency_type", "kind")),
    "homeward_escalations": (Counter, ("agency_type",)),
    "homeward_ack_seconds": (Histogram, ("agency_type",)),
    "homeward_referrals": (Counter, ("agency_type", "status")),
    "homeward_referrals_open": (Gauge, ("agency_type", "status")),
    "homeward_referral_answer_seconds": (Histogram, ("agency_type",)),
    "homeward_overdue": (Counter, ("kind", "phase")),
    "homeward_anomalies": (Counter, ("rule", "severity")),
    "homeward_dead_letters": (Counter, ("service", "reason")),
    "homeward_emit_parked": (Counter, ("service", "topic", "reason")),
    "homeward_publish_refused": (Counter, ("service", "topic", "reason")),
    "homeward_consumer_lag": (Gauge, ("service", "group", "topic", "partition")),
    "homeward_http_requests": (Counter, ("route", "method", "status")),
    "homeward_http_request_seconds": (Histogram, ("route", "method")),
    "homeward_sdk_sent": (Counter, ("sdk", "topic", "type")),
    "homeward_sdk_refused": (Counter, ("sdk", "field")),
    "homeward_audit_entries_written": (Counter, ("service", "outcome")),
    "homeward_audit_chained": (Counter, ("partition",)),
    "homeward_audit_duplicates": (Counter, ("partition",)),
    "homeward_audit_unreadable": (Counter, ("reason",)),
    "homeward_audit_checkpoints": (Counter, ("partition",)),
    "homeward_audit_chain_seq": (Gauge, ("partition",)),
    "homeward_gateway_webhook_attempts": (Counter, ("outcome",)),
    "homeward_gateway_webhook_attempt_seconds": (Histogram, ()),
    "homeward_gateway_webhook_delivery_seconds": (Histogram, ()),
    "homeward_gateway_webhook_dead_letters": (Counter, ()),
    "homeward_gateway_webhook_in_flight": (Gauge, ()),
    "homeward_gateway_webhook_skipped": (Counter, ("reason",)),
    "homeward_gateway_deliveries": (Counter, ("agency_type", "kind")),
    "homeward_gateway_records_skipped": (Counter, ("topic",)),
    "homeward_gateway_sse_clients": (Gauge, ()),
    "homeward_gateway_writes": (Counter, ("action",)),
    "homeward_gateway_tips": (Counter, ("channel", "outcome")),
    "homeward_gateway_delivery_latency_seconds": (Histogram, ()),
}

# Anything that names one case, person, agency or event: unbounded and personal.
FORBIDDEN_LABELS = {"case_id", "case", "person", "agency_id", "event_id", "delivery_id", "id"}


def declared() -> dict[str, Counter | Gauge | Histogram | Info]:
    return {
        m._name: m
        for m in vars(metrics).values()
        if isinstance(m, Counter | Gauge | Histogram | Info)
    }


def test_every_metric_of_the_catalogue_is_declared_once_with_its_kind_and_labels() -> None:
    found = declared()
    assert set(found) == set(CATALOGUE)
    for name, (kind, labels) in CATALOGUE.items():
        assert isinstance(found[name], kind), name
        assert found[name]._labelnames == labels, name


def test_names_follow_prometheus_rules() -> None:
    for name, metric in declared().items():
        assert re.fullmatch(r"homeward_[a-z][a-z0-9_]*", name), name
        assert not FORBIDDEN_LABELS & set(metric._labelnames), name
        # Base units only: seconds, never milliseconds.
        assert not re.search(r"_(ms|milliseconds|minutes|hours)(_|$)", name), name
        if isinstance(metric, Histogram):
            assert name.endswith("_seconds"), name


def test_counters_are_exposed_with_total_and_the_build_info_as_a_gauge() -> None:
    metrics.set_build_info("fanout")
    families = {f.name: f for f in metrics.BUILD_INFO.collect()}
    (sample,) = families["homeward_build"].samples
    assert sample.name == "homeward_build_info" and sample.value == 1
    assert sample.labels["service"] == "fanout" and sample.labels["version"]
    metrics.OVERDUE.labels("referral", "answer").inc(0)
    (family,) = metrics.OVERDUE.collect()
    assert "homeward_overdue_total" in {s.name for s in family.samples}
    for metric in declared().values():
        # prometheus_client appends _total to a counter; a declared name must not double it.
        assert not metric._name.endswith("_total")


def test_histogram_buckets_are_increasing_and_cover_the_deadlines() -> None:
    for buckets in (metrics.LATENCY_BUCKETS, metrics.ACK_BUCKETS, metrics.ANSWER_BUCKETS):
        assert list(buckets) == sorted(set(buckets))
    assert metrics.ACK_BUCKETS[-1] >= 600  # the default ack timeout
    assert metrics.ANSWER_BUCKETS[-1] >= 2 * 86400  # the longest answer deadline
