"""The webhook dispatcher's Prometheus metrics (homeward_gateway_webhook_*).
Labels never name an agency or a delivery (unbounded, and who receives what
is not for a monitoring system): per-agency figures are on the receipts topic."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter(
    "homeward_gateway_webhook_attempts_total",
    "Webhook POSTs made, by outcome (delivered: a 2xx; failed: anything else)",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "homeward_gateway_webhook_attempt_seconds",
    "Time of one webhook POST, from sending to the endpoint's answer (or the failure)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
DELIVERY_SECONDS = Histogram(
    "homeward_gateway_webhook_delivery_seconds",
    "From a delivery's arrival in the inbox to its endpoint's 2xx, retries included",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)
DEAD_LETTERS = Counter(
    "homeward_gateway_webhook_dead_letters_total",
    "Deliveries dead-lettered after their last try (or refused for good by the endpoint)",
)
IN_FLIGHT = Gauge(
    "homeward_gateway_webhook_in_flight",
    "Inbox records read but not yet delivered, dead-lettered or skipped",
)
SKIPPED = Counter(
    "homeward_gateway_webhook_skipped_total",
    "Inbox records not sent by webhook, by why (no_endpoint, not_wanted, unreadable)",
    ["reason"],
)
