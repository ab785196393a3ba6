"""POSTing one delivery to one endpoint: a signed attempt, and the retry loop
around it (backoff with full jitter, a fixed number of tries).

SSRF hygiene: the URL comes only from the registry, redirects are never
followed (a 3xx is a failure, as Standard Webhooks says), every request has a
timeout, and the response body is never read, so it is never logged.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from homeward import webhook_signing
from homeward_gateway.webhooks import metrics
from homeward_gateway.webhooks.backoff import Backoff, parse_retry_after
from homeward_gateway.webhooks.registry import Endpoint

log = logging.getLogger(__name__)


# 410 Gone: the endpoint says it wants no more (Standard Webhooks: stop
# sending). A 3xx: the URL must be updated in the registry, not followed.
# Neither gets better by trying again: dead-letter at once.
def refused_for_good(status: int) -> bool:
    return status == 410 or 300 <= status < 400


@dataclass(frozen=True)
class Attempt:
    status: int | None
    """The HTTP status; None when no answer came."""
    reason: str
    """Why it failed ("" when delivered): a status or an error class, never a body."""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def final(self) -> bool:
        return self.status is not None and refused_for_good(self.status)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    last_status: int | None
    reason: str


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff: Backoff


def new_client(timeout: float) -> httpx.Client:
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        # No proxy or netrc from the environment: the registry's URL is the destination.
        trust_env=False,
        headers={"User-Agent": "homeward-gateway-webhooks"},
    )


def post(client: httpx.Client, endpoint: Endpoint, webhook_id: str, body: bytes) -> Attempt:
    """One signed POST (a fresh webhook-timestamp, the same webhook-id)."""
    headers = {
        "Content-Type": "application/json",
        **webhook_signing.sign(webhook_id, body, endpoint.secrets),
    }
    started = time.perf_counter()
    try:
        # stream(): the status is all that is needed; the body is never read.
        with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
            status = response.status_code
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except httpx.HTTPError as exc:
        attempt = Attempt(None, type(exc).__name__)
    else:
        ok = 200 <= status < 300
        attempt = Attempt(status, "" if ok else f"HTTP {status}", retry_after)
    metrics.ATTEMPT_SECONDS.observe(time.perf_counter() - started)
    metrics.ATTEMPTS.labels(outcome="delivered" if attempt.delivered else "failed").inc()
    return attempt


def deliver(
    client: httpx.Client,
    endpoint: Endpoint,
    webhook_id: str,
    body: bytes,
    policy: Policy,
    stop: threading.Event,
    on_failed_try: Callable[[Attempt, int], None] | None = None,
    rng: random.Random | None = None,
) -> Outcome | None:
    """Try until delivered, refused for good, or out of tries; None when
    `stop` cut it short (the delivery is not settled: it is read again)."""
    attempt = Attempt(None, "not tried")
    for n in range(1, policy.max_attempts + 1):
        attempt = post(client, endpoint, webhook_id, body)
        if attempt.delivered:
            return Outcome(True, n, attempt.status, "")
        if attempt.final or n == policy.max_attempts:
            return Outcome(False, n, attempt.status, attempt.reason)
        if on_failed_try is not None:
            on_failed_try(attempt, n)
        wait = policy.backoff.delay(n, rng, attempt.retry_after)
        log.info(
            "webhook %s to %s: %s; try %d of %d in %.2fs",
            webhook_id,
            endpoint.agency_id,
            attempt.reason,
            n + 1,
            policy.max_attempts,
            wait,
        )
        if stop.wait(wait):
            return None
    return Outcome(False, policy.max_attempts, attempt.status, attempt.reason)  # pragma: no cover
