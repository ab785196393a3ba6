"""The gateway's own metrics (Prometheus naming: homeward_gateway_*, base units,
_total on counters; labelled by agency type and kind, never by an agency or case)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "homeward_gateway_deliveries_total",
    "Inbox entries the gateway holds, by the inbox's agency type and the delivery's kind",
    ["agency_type", "kind"],
)
RECORDS_SKIPPED = Counter(
    "homeward_gateway_records_skipped_total",
    "Records the gateway's follower could not decode and skipped (dead-lettered)",
    ["topic"],
)
SSE_CLIENTS = Gauge(
    "homeward_gateway_sse_clients", "Live inbox streams (server-sent events) open now"
)
WRITES = Counter(
    "homeward_gateway_writes_total",
    "Acknowledgements and answers the gateway published, by action",
    ["action"],
)
DELIVERY_LATENCY = Histogram(
    "homeward_gateway_delivery_latency_seconds",
    "Intake acceptance to the gateway holding the alert delivery",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
