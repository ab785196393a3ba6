"""Every Prometheus metric Homeward emits, declared once.

Names follow Prometheus's rules: one prefix (homeward_), base units
(_seconds), _total on counters; labels by service, topic and event type,
never by a case or agency id (unbounded cardinality).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, Info, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

BUILD_INFO = Info("homeward_build", "Homeward version and service")
EVENTS_CONSUMED = Counter(
    "homeward_events_consumed_total", "Records read", ["service", "topic", "type"]
)
EVENTS_PRODUCED = Counter(
    "homeward_events_produced_total", "Records written", ["service", "topic", "type"]
)
DEAD_LETTERS = Counter(
    "homeward_dead_letters_total", "Records sent to the dead-letter topic", ["service", "reason"]
)
HANDLING_SECONDS = Histogram(
    "homeward_handling_seconds",
    "Time to handle one record",
    ["service", "type"],
    buckets=LATENCY_BUCKETS,
)
DELIVERIES = Counter(
    "homeward_deliveries_total", "Deliveries written to agency inboxes", ["agency_type", "kind"]
)
FANOUT_LATENCY = Histogram(
    "homeward_fanout_latency_seconds",
    "From intake accepting an event to its delivery being written to an inbox",
    ["kind"],
    buckets=LATENCY_BUCKETS,
)
ESCALATIONS = Counter(
    "homeward_escalations_total", "Deliveries escalated to the coordination office", ["agency_type"]
)

REFERRALS = Counter(
    "homeward_referrals_total",
    "Referral status changes logged by the router",
    ["agency_type", "status"],
)
OVERDUE = Counter(
    "homeward_overdue_total",
    "Deadlines missed: referrals (answer, completion) and reports (acknowledgement)",
    ["kind", "phase"],
)

ANOMALIES = Counter(
    "homeward_anomalies_total",
    "Health-record anomalies raised by the detector",
    ["rule"],
)


def serve(port: int, service: str, version: str = "0.1.0") -> None:
    """Expose /metrics on `port` (0: not at all)."""
    BUILD_INFO.info({"service": service, "version": version})
    if port:
        start_http_server(port)
