"""Forwarding deliveries to an agency's own HTTP endpoint (delivery mode
"webhook"): POST the delivery as JSON, a bounded number of tries, and tell
the caller whether it was taken (a 2xx) so it acknowledges only then. A
ForwardError is a handler failure: Subscriber.run hands the same delivery over
again after a backoff, and nothing after it moves on before it is taken."""

from __future__ import annotations

import logging
import threading

import httpx

from homeward.errors import HomewardError
from homeward_agency.delivery import Delivery
from homeward_agency.render import to_json

log = logging.getLogger(__name__)

# Worth another try: the endpoint may be restarting or shedding load. Any
# other 4xx is a refusal that would be repeated, so it is not retried.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class ForwardError(HomewardError):
    """The endpoint did not take a delivery within the tries allowed."""


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
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=timeout)
        # Waiting between tries on this event lets SIGTERM cut a backoff short.
        self._stop = stop_event or threading.Event()

    def __call__(self, delivery: Delivery) -> None:
        """POST `delivery`; return on a 2xx, raise ForwardError otherwise."""
        body = to_json(delivery)
        headers = {
            # Lets the endpoint drop a copy it already took (resends keep the id).
            "Idempotency-Key": delivery.dedup_key,
            "ce-id": delivery.meta.id,
            "ce-type": delivery.meta.type,
            "ce-subject": delivery.case_id,
        }
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.post(self.url, json=body, headers=headers)
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
