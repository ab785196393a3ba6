"""Every Prometheus metric Homeward emits, declared once.

Names follow Prometheus's rules: one prefix (homeward_), base units
(_seconds), _total on counters; labels by service, topic and event type,
never by a case, person, agency or event id (unbounded cardinality, and
personal data in a monitoring system). The catalogue, with what each series
means, is in docs/operations.md ("Metrics"); dashboards and alert rules use
exactly these names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from homeward.version import homeward_version

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# People answer, not machines: from a second to the 10-minute ack timeout and past it.
ACK_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Referral answer deadlines run from an hour to days (topology/referrals.yaml).
ANSWER_BUCKETS = (
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    12 * 3600.0,
    86400.0,
    2 * 86400.0,
    7 * 86400.0,
)

# -- every service -----------------------------------------------------------

BUILD_INFO = Info("homeward_build", "Homeward version and service")  # homeward_build_info
UP = Gauge("homeward_up", "1 while the service's main loop runs", ["service"])
READY = Gauge(
    "homeward_ready",
    "1 while the service is ready (Kafka reached, partitions assigned / HTTP served)",
    ["service"],
)
EVENTS_CONSUMED = Counter(
    "homeward_events_consumed_total", "Records read", ["service", "topic", "type"]
)
EVENTS_PRODUCED = Counter(
    "homeward_events_produced_total", "Records written", ["service", "topic", "type"]
)
DEAD_LETTERS = Counter(
    "homeward_dead_letters_total", "Records sent to the dead-letter topic", ["service", "reason"]
)
EMIT_PARKED = Counter(
    "homeward_emit_parked_total",
    "Output records the broker refused for good (grants, size), parked on the dead-letter topic",
    ["service", "topic", "reason"],
)
PUBLISH_REFUSED = Counter(
    "homeward_publish_refused_total",
    "Writes from an HTTP service the broker refused for good (grants, size); the request "
    "was answered 500 and nothing was published",
    ["service", "topic", "reason"],
)
HANDLING_SECONDS = Histogram(
    "homeward_handling_seconds",
    "Time to handle one record",
    ["service", "type"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "homeward_consumer_lag",
    "Records behind the end of the partition, per partition of the service's own group",
    ["service", "group", "topic", "partition"],
)

# -- fan-out -----------------------------------------------------------------

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
ACK_SECONDS = Histogram(
    "homeward_ack_seconds",
    "From an alert delivery first written to its acknowledgement read by the fan-out",
    ["agency_type"],
    buckets=ACK_BUCKETS,
)

# -- referral router -----------------------------------------------------------

REFERRALS = Counter(
    "homeward_referrals_total",
    "Referral status changes logged by the router",
    ["agency_type", "status"],
)
REFERRALS_OPEN = Gauge(
    "homeward_referrals_open",
    "Referrals offered to an agency and not finished, by current status, in this "
    "worker's table (sum over workers)",
    ["agency_type", "status"],
)
REFERRAL_ANSWER_SECONDS = Histogram(
    "homeward_referral_answer_seconds",
    "From a referral offered to an agency to that agency's first answer",
    ["agency_type"],
    buckets=ANSWER_BUCKETS,
)
OVERDUE = Counter(
    "homeward_overdue_total",
    "Deadlines missed: referrals (answer, completion) and reports (acknowledgement)",
    ["kind", "phase"],
)

# -- anomaly detector ----------------------------------------------------------

ANOMALIES = Counter(
    "homeward_anomalies_total",
    "Health-record anomalies raised by the detector",
    ["rule", "severity"],
)

# -- intake (HTTP) -------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "homeward_http_requests_total",
    "HTTP requests answered, by route template (not the raw path)",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "homeward_http_request_seconds",
    "Time to answer an HTTP request, by route template",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)

# -- SDKs (agency subscriber, hospital recorder) ---------------------------------

SDK_SENT = Counter("homeward_sdk_sent_total", "Records an SDK sent", ["sdk", "topic", "type"])
SDK_REFUSED = Counter(
    "homeward_sdk_refused_total",
    "Records or answers an SDK refused before sending, by the field at fault",
    ["sdk", "field"],
)


# -- audit ---------------------------------------------------------------------

AUDIT_ENTRIES_WRITTEN = Counter(
    "homeward_audit_entries_written_total",
    "Audit entries an entry point put on audit.entries.v1 (acknowledged by the broker)",
    ["service", "outcome"],
)
AUDIT_CHAINED = Counter(
    "homeward_audit_chained_total",
    "Audit entries the sequencer appended to the chain on audit.log.v1",
    ["partition"],
)
AUDIT_DUPLICATES = Counter(
    "homeward_audit_duplicates_total",
    "Audit entries dropped by the sequencer as already chained (input read twice)",
    ["partition"],
)
AUDIT_UNREADABLE = Counter(
    "homeward_audit_unreadable_total",
    "Records on audit.entries.v1 the sequencer could not decode and skipped",
    ["reason"],
)
AUDIT_CHECKPOINTS = Counter(
    "homeward_audit_checkpoints_total",
    "Signed checkpoints the sequencer appended to audit.log.v1",
    ["partition"],
)
AUDIT_CHAIN_SEQ = Gauge(
    "homeward_audit_chain_seq",
    "Seq of the last entry chained on a partition of audit.log.v1 by this sequencer",
    ["partition"],
)

# -- agency gateway ------------------------------------------------------------

GATEWAY_DELIVERIES = Counter(
    "homeward_gateway_deliveries_total",
    "Inbox entries the gateway holds, by the inbox's agency type and the delivery's kind",
    ["agency_type", "kind"],
)
GATEWAY_RECORDS_SKIPPED = Counter(
    "homeward_gateway_records_skipped_total",
    "Records the gateway's follower could not decode and skipped",
    ["topic"],
)
GATEWAY_SSE_CLIENTS = Gauge(
    "homeward_gateway_sse_clients", "Live inbox streams (server-sent events) open now"
)
GATEWAY_WRITES = Counter(
    "homeward_gateway_writes_total",
    "Acknowledgements and answers the gateway published for its callers, by action",
    ["action"],
)
GATEWAY_TIPS = Counter(
    "homeward_gateway_tips_total",
    "Public tips by channel (api, form) and how they were answered (accepted, rate_limited, "
    "too_large, malformed, invalid, not_found, bad_token, unavailable)",
    ["channel", "outcome"],
)
GATEWAY_DELIVERY_SECONDS = Histogram(
    "homeward_gateway_delivery_latency_seconds",
    "Intake acceptance to the gateway holding the alert delivery",
    buckets=LATENCY_BUCKETS,
)

# -- agency gateway: webhooks (docs/webhooks.md) ----------------------------------
# Labels never name an agency or a delivery: per-agency figures are on the
# receipts topic (webhooks.receipts.v1).
WEBHOOK_ATTEMPTS = Counter(
    "homeward_gateway_webhook_attempts_total",
    "Webhook POSTs made, by outcome (delivered: a 2xx; failed: anything else)",
    ["outcome"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "homeward_gateway_webhook_attempt_seconds",
    "Time of one webhook POST, from sending to the endpoint's answer (or the failure)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "homeward_gateway_webhook_delivery_seconds",
    "From a delivery's arrival in the inbox to its endpoint's 2xx, retries included",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
WEBHOOK_DEAD_LETTERS = Counter(
    "homeward_gateway_webhook_dead_letters_total",
    "Deliveries dead-lettered after their last try (or refused for good by the endpoint)",
)
WEBHOOK_IN_FLIGHT = Gauge(
    "homeward_gateway_webhook_in_flight",
    "Inbox records read but not yet delivered, dead-lettered or skipped",
)
WEBHOOK_SKIPPED = Counter(
    "homeward_gateway_webhook_skipped_total",
    "Inbox records not sent by webhook, by why (no_endpoint, not_wanted, unreadable)",
    ["reason"],
)


def set_build_info(service: str) -> None:
    BUILD_INFO.info({"service": service, "version": homeward_version()})
