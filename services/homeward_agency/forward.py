"""Forwarding deliveries to an agency's own HTTP endpoint (delivery mode
"webhook"): POST the delivery as JSON, a bounded number of tries, and tell
the caller whether it was taken (a 2xx) so it acknowledges only then. A
ForwardError is a handler failure: Subscriber.run hands the same delivery over
again after a backoff, and nothing after it moves on before it is taken.

Given signing secrets (`whsec_...`, the current one first, the one being
rotated out second), every POST is signed by the Standard Webhooks scheme
exactly as the agency gateway signs its webhooks (homeward.webhook_signing):
`webhook-id` is the delivery's de-duplication key, the same on every try.
Without secrets the secrets come from HOMEWARD_AGENCY_FORWARD_SECRETS
(space-separated) or the file HOMEWARD_AGENCY_FORWARD_SECRETS_FILE (one a
line); with neither the POST goes unsigned, as before."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx

from homeward import webhook_signing
from homeward.errors import HomewardError
from homeward_agency.delivery import Delivery
from homeward_agency.render import to_json

log = logging.getLogger(__name__)

# Worth another try: the endpoint may be restarting or shedding load. Any
# other 4xx is a refusal that would be repeated, so it is not retried.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class ForwardError(HomewardError):
    """The endpoint did not take a delivery within the tries allowed."""


SECRETS_ENV = "HOMEWARD_AGENCY_FORWARD_SECRETS"
SECRETS_FILE_ENV = "HOMEWARD_AGENCY_FORWARD_SECRETS_FILE"


def secrets_from_env() -> list[webhook_signing.Secret]:
    """The forward signing secrets the environment names (none: unsigned)."""
    texts = os.environ.get(SECRETS_ENV, "").split()
    path = os.environ.get(SECRETS_FILE_ENV, "").strip()
    if path:
        texts += Path(path).read_text(encoding="utf-8").split()
    return [webhook_signing.Secret.parse(t, field_name=SECRETS_ENV) for t in texts]


def body_bytes(delivery: Delivery) -> bytes:
    """The JSON body, serialized once: the bytes signed are the bytes sent."""
    return json.dumps(to_json(delivery), ensure_ascii=False, separators=(",", ":")).encode()


class Forwarder:
    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        backoff: float = 0.5,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        stop_event: threading.Event | None = None,
        secrets: Sequence[webhook_signing.Secret | str] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url = url
        given = secrets_from_env() if secrets is None else secrets
        self.secrets = [
            s if isinstance(s, webhook_signing.Secret) else webhook_signing.Secret.parse(s)
            for s in given
        ]
        self.attempts = attempts
        self.backoff = backoff
        self._own_client = client is None
        # Redirects are not followed: a 3xx is a failure (Standard Webhooks).
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        # Waiting between tries on this event lets SIGTERM cut a backoff short.
        self._stop = stop_event or threading.Event()

    def __call__(self, delivery: Delivery) -> None:
        """POST `delivery`; return on a 2xx, raise ForwardError otherwise."""
        body = body_bytes(delivery)
        webhook_id = webhook_signing.webhook_id(delivery.dedup_key)
        headers = {
            "Content-Type": "application/json",
            # Lets the endpoint drop a copy it already took (resends keep the id).
            "Idempotency-Key": delivery.dedup_key,
            "ce-id": delivery.meta.id,
            "ce-type": delivery.meta.type,
            "ce-subject": delivery.case_id,
        }
        last = ""
        for attempt in range(1, self.attempts + 1):
            if self.secrets:
                # A fresh timestamp per try (the receiver's replay window), the same id.
                headers.update(webhook_signing.sign(webhook_id, body, self.secrets))
            try:
                response = self.client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return
                last = f"HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUS:
                    break
            if attempt < self.attempts:
                log.info(
                    "forward of %s failed (%s); try %d of %d next",
                    delivery.delivery_id,
                    last,
                    attempt + 1,
                    self.attempts,
                )
                if self._stop.wait(self.backoff * 2 ** (attempt - 1)):
                    break
        raise ForwardError(f"{self.url} did not take it: {last}", field="forward_url")

    def close(self) -> None:
        if self._own_client:
            self.client.close()
