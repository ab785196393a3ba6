"""The service layer: accept one event, exactly once per Idempotency-Key.

No HTTP here (routes.py) and no Kafka (publisher.py, idempotency_kafka.py):
this is the decision, unit-tested as plain calls with in-memory adapters.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeward.errors import HomewardError
from homeward.events import Event
from homeward_intake.idempotency import (
    KEY_HEADER,
    Decision,
    IdempotencyStore,
    KeyLocks,
    Remembered,
    decide,
    event_id_for,
    request_hash,
)
from homeward_intake.models import Accepted
from homeward_intake.publisher import Publisher, PublishUnavailable

log = logging.getLogger(__name__)

SOURCE_PREFIX = "/homeward/intake/"


class IdempotencyConflict(HomewardError):
    """The key was already used for a different request (answered as 409)."""


@dataclass(frozen=True)
class Outcome:
    """The answer body, and whether it was replayed from an earlier request."""

    answer: dict[str, Any]
    replayed: bool


def now_ms() -> datetime:
    # The wire carries milliseconds (ce_time); answering with the same
    # precision makes accepted_at equal to the event's ce_time.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Intake:
    """Publishes accepted events and remembers the answers given to keyed requests."""

    def __init__(
        self,
        publisher: Publisher,
        store: IdempotencyStore,
        *,
        source_name: str,
        sync_timeout_seconds: float = 2.0,
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.source = SOURCE_PREFIX + source_name
        self.sync_timeout = sync_timeout_seconds
        self.locks = KeyLocks()

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Connect the producer, then read the idempotency log; raises if either fails."""
        self.publisher.start()
        self.store.start()

    def ready(self) -> bool:
        return self.publisher.ready() and self.store.ready()

    def close(self) -> None:
        self.store.close()
        self.publisher.close()

    # -- the one use case ------------------------------------------------------
    def accept(self, event: Event, body: dict[str, Any], key: str | None) -> Outcome:
        """Publish `event` (or replay the answer already given to `key`).

        `body` is the validated request, dumped with exclude_defaults; it and the
        event type and case make the request hash.
        """
        if key is None:
            return Outcome(self._publish(event, str(uuid.uuid4())).model_dump(mode="json"), False)
        if not self.store.ready():
            # Without the log we cannot tell a retry from a new request.
            raise PublishUnavailable("the idempotency log on Kafka is not read yet; retry shortly")
        req_hash = request_hash(event.ce_type(), event.case_id, body)
        with self.locks.hold(key):
            prior = self.store.get(key)
            if prior is None:
                # A retry may have gone to this instance after another one answered
                # it: catch up with the shared log before calling the key new.
                if not self.store.sync(self.sync_timeout):
                    # Going on is safe: the event id is deterministic, so at worst a
                    # duplicate with the same ce_id is published and consumers drop it.
                    log.warning("idempotency log not caught up in %.1fs", self.sync_timeout)
                prior = self.store.get(key)
            decision = decide(prior, req_hash)
            if decision is Decision.REPLAY and prior is not None:
                return Outcome(prior.response, True)
            if decision is Decision.CONFLICT:
                raise IdempotencyConflict(
                    "was already used for a different request; use a new key for a new request",
                    field=KEY_HEADER,
                )
            accepted = self._publish(event, event_id_for(key, req_hash))
            answer = accepted.model_dump(mode="json")
            # The event is published first and the idempotency record second. A
            # crash between the two loses only the record: a retry then publishes
            # the event again with the same ce_id (derived from key and request),
            # which consumers drop as a duplicate. The other order could remember
            # an answer for an event that never reached the bus: a retry would
            # then be told "accepted" while the alert was lost.
            try:
                self.store.put(key, Remembered(req_hash, answer, time.time()))
            except Exception:  # the event is out; the answer stands
                log.warning("could not store the idempotency record", exc_info=True)
            return Outcome(answer, False)

    def _publish(self, event: Event, event_id: str) -> Accepted:
        # Checked here, not on entry: a replay needs no Kafka and is still answered.
        if not self.publisher.ready():
            raise PublishUnavailable("not connected to Kafka yet; retry shortly")
        accepted_at = now_ms()
        published = self.publisher.publish(
            event, event_id=event_id, source=self.source, time=accepted_at
        )
        return Accepted(
            event_id=published.meta.id,
            case_id=event.case_id,
            type=published.meta.type,
            accepted_at=accepted_at,
            topic=published.topic,
        )
