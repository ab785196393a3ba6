"""The service layer: accept one event, exactly once per Idempotency-Key.

No HTTP here (routes*.py) and no Kafka (publisher.py, idempotency_kafka.py,
referral_view_kafka.py): this is the decision, unit-tested as plain calls
with in-memory adapters. The topic follows the event type (routing.py); a
referral answer is first checked against the referral read model (answers.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from homeward.alert_lifecycle import AlertStep, next_state
from homeward.audit import AuditEntry, Auditor, AuditOutcome, MemoryAuditor
from homeward.auth import Forbidden, Principal, current_roles
from homeward.errors import HomewardError, PublishUnavailable
from homeward.events import AlertCancelled, CancelReason, Event, ReferralAnswered, RescueNotified
from homeward.metrics import EVENTS_PRODUCED
from homeward.topology import answer_topic_id
from homeward_intake import answers
from homeward_intake.alert_view import MemoryAlertView
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
from homeward_intake.publisher import Publisher
from homeward_intake.referral_view import (
    MemoryReferralView,
    PendingAnswer,
    ReferralState,
    ReferralView,
)
from homeward_intake.routing import topic_id_for

log = logging.getLogger(__name__)

SOURCE_PREFIX = "/homeward/intake/"


class IdempotencyConflict(HomewardError):
    """The key was already used for a different request (answered as 409)."""


class AlertsUnavailable(HomewardError):
    """The alert log could not be read up to now (answered as 503)."""


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


Plan = Callable[[str], str]  # the event id to be published -> its topic id
"""Decides, just before publishing a new request, the topic id (or refuses)."""


class Intake:
    """Publishes accepted events and remembers the answers given to keyed requests."""

    def __init__(
        self,
        publisher: Publisher,
        store: IdempotencyStore,
        *,
        source_name: str,
        sync_timeout_seconds: float = 2.0,
        referrals: ReferralView | None = None,
        alerts: MemoryAlertView | None = None,
        auditor: Auditor | None = None,
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.referrals: ReferralView = referrals or MemoryReferralView()
        self.alerts = alerts or MemoryAlertView()
        # Production passes the Kafka auditor (app.build_kafka_app); unit tests read these.
        self.auditor: Auditor = auditor or MemoryAuditor()
        self.source = SOURCE_PREFIX + source_name
        self.sync_timeout = sync_timeout_seconds
        self.locks = KeyLocks()
        # Taken before a key's lock, never after, and a set of its own: no cycle.
        self.referral_locks = KeyLocks()
        self.case_locks = KeyLocks()

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Connect the producer, then read the idempotency and referral logs; raises
        if any fails (each step is idempotent, so the connector just calls it again)."""
        self.publisher.start()
        self.store.start()
        self.referrals.start()
        self.alerts.start()

    def ready(self) -> bool:
        return not self.not_ready_reasons()

    def not_ready_reasons(self) -> dict[str, str]:
        """What keeps this instance from accepting requests now, by part."""
        reasons: dict[str, str] = {}
        producer = self.publisher.not_ready_reason()
        if producer is not None:
            reasons["producer"] = producer
        for name, part in (
            ("idempotency_log", self.store),
            ("referral_log", self.referrals),
            ("alert_log", self.alerts),
        ):
            if not part.ready():
                reasons[name] = "not read up to now: Kafka unreachable or still loading"
        return reasons

    def close(self) -> None:
        self.alerts.close()
        self.referrals.close()
        self.store.close()
        self.publisher.close()

    # -- use cases ---------------------------------------------------------------
    def accept(
        self,
        event: Event,
        body: dict[str, Any],
        key: str | None,
        *,
        principal: Principal,
        action: str,
        extra: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Publish `event` to the topic its type goes to (or replay the answer
        already given to `key`).

        `body` is the validated request, dumped with exclude_defaults; it and the
        event type and case make the request hash. `extra` is added to the answer
        (and replayed with it), e.g. a generated report id.
        """
        topic_id = topic_id_for(event)
        audit = (principal, action)
        if isinstance(event, RescueNotified) and event.closes_alert:
            # Closing the alert is the case's owner's (or supervisor's) call.
            return self.accept_alert_step(
                event, body, key, principal=principal, action=action, step=AlertStep.CANCEL
            )
        return self._accept(event, body, key, lambda _id: topic_id, extra=extra, audit=audit)

    def accept_alert_step(
        self,
        event: Event,
        body: dict[str, Any],
        key: str | None,
        *,
        principal: Principal,
        action: str,
        step: AlertStep,
    ) -> Outcome:
        """Publish a step of an alert's life once the alert log says it is legal
        and the caller's unit owns the case (or supervises its owner)."""
        case_id = event.case_id
        table = self.alerts.table
        reason = event.reason if isinstance(event, AlertCancelled) else None
        if isinstance(event, RescueNotified):
            reason = CancelReason.FOUND

        def plan(event_id: str) -> str:
            if not self.alerts.sync(self.sync_timeout):
                raise AlertsUnavailable(
                    "the alert log on Kafka is not read up to now; retry shortly"
                )
            case = table.get(case_id)
            if case is not None and case.last_event_id == event_id:
                # This very request, published before its answer was lost: a retry
                # publishes the same event again (consumers drop the copy), not a 409.
                return topic_id_for(event)
            next_state(case.state if case else None, step, reason)  # 409 if out of turn
            if case is not None and not current_roles().may_act_on_case(principal, case.owner):
                raise Forbidden(
                    f"case {case_id} belongs to {case.owner or 'another unit'}; "
                    f"{principal.agency_id} neither issued it nor supervises its unit",
                    field="case_id",
                )
            return topic_id_for(event)

        def published(event_id: str) -> None:
            found = event if not isinstance(event, RescueNotified) else _found(event)
            table.apply(found, event_id)

        with self.case_locks.hold(case_id):
            return self._accept(
                event, body, key, plan, on_published=published, audit=(principal, action)
            )

    def answer_referral(
        self,
        answer: ReferralAnswered,
        body: dict[str, Any],
        key: str | None,
        *,
        principal: Principal,
    ) -> Outcome:
        """Publish an agency's answer once the read model says the step is legal.

        Checked only for a new request: a retry of an answer already accepted is
        replayed as accepted, even though the referral has moved on since."""
        case_id, referral_id = answer.case_id, answer.referral_id
        table = self.referrals.table
        offer = 0
        replayed = False

        def plan(event_id: str) -> str:
            nonlocal offer, replayed
            # The router may have just recorded a step: read its log up to now first.
            if not self.referrals.sync(self.sync_timeout):
                raise answers.ReferralsUnavailable(
                    "the referral log on Kafka is not read up to now; retry shortly"
                )
            state = table.get(case_id, referral_id)
            pending = table.pending(case_id, referral_id)
            if state is not None and event_id in (
                state.answer_event_id,
                pending.event_id if pending else None,
            ):
                # This very request, published before its answer was lost (intake
                # killed between the event and its idempotency record): a retry
                # publishes the same event again (the router drops the copy), not a
                # 409 for a step the referral has already taken.
                replayed = True
                return answer_topic_id(state.agency_type)
            topic_id = answers.check(answer, state, table.known_status(case_id, referral_id))
            offer = state.offer if state is not None else 0
            return topic_id

        def published(event_id: str) -> None:
            if not replayed:
                table.expect(
                    case_id, referral_id, event_id=event_id, status=answer.status, offer=offer
                )

        # One answer per referral at a time in this instance: the second is judged
        # against the first (pending), not against the same old status.
        with self.referral_locks.hold(f"{case_id}\n{referral_id}"):
            return self._accept(
                answer,
                body,
                key,
                plan,
                on_published=published,
                audit=(principal, "referral.answer"),
            )

    def referral(
        self, case_id: str, referral_id: str
    ) -> tuple[ReferralState | None, PendingAnswer | None]:
        """The router's last record of a referral (after catching up with its log),
        and an answer this instance published that the router has not recorded yet."""
        if not self.referrals.sync(self.sync_timeout):
            raise answers.ReferralsUnavailable(
                "the referral log on Kafka is not read up to now; retry shortly"
            )
        table = self.referrals.table
        return table.get(case_id, referral_id), table.pending(case_id, referral_id)

    # -- the one way in --------------------------------------------------------------
    def _accept(
        self,
        event: Event,
        body: dict[str, Any],
        key: str | None,
        plan: Plan,
        *,
        extra: Mapping[str, Any] | None = None,
        on_published: Callable[[str], None] | None = None,
        audit: tuple[Principal, str],
    ) -> Outcome:
        def publish(event_id: str) -> dict[str, Any]:
            accepted = self._publish(event, plan(event_id), event_id)
            if on_published is not None:
                on_published(accepted.event_id)
            # Answered only once it is on the record too: a failure here is a 503,
            # and the retry (same key, same event id) publishes and records again.
            self._audit(audit, event, accepted)
            return {**accepted.model_dump(mode="json"), **(extra or {})}

        if key is None:
            return Outcome(publish(str(uuid.uuid4())), False)
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
            answer = publish(event_id_for(key, req_hash))
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

    def _audit(self, audit: tuple[Principal, str], event: Event, accepted: Accepted) -> None:
        principal, action = audit
        entry = AuditEntry(
            entry_id=f"write:{accepted.event_id}",
            at=accepted.accepted_at,
            service="intake",
            action=action,
            outcome=AuditOutcome.ACCEPTED,
            principal=principal.name,
            subject=principal.subject,
            agency_id=principal.agency_id,
            case_id=event.case_id,
            event_id=accepted.event_id,
            event_type=event.ce_type(),
            status=202,
            detail={"topic": accepted.topic},
        )
        try:
            self.auditor.record(entry)
        except Exception as exc:
            raise PublishUnavailable(f"the audit record could not be written: {exc}") from exc

    def _publish(self, event: Event, topic_id: str, event_id: str) -> Accepted:
        # Checked here, not on entry: a replay needs no Kafka and is still answered.
        down = self.publisher.not_ready_reason()
        if down is not None:
            raise PublishUnavailable(f"{down}; retry shortly")
        accepted_at = now_ms()
        # ce_source names the system that sent it, through this intake instance.
        source = self.source
        if event.actor is not None:
            source += "/" + quote(event.actor.principal, safe="-._~")
        published = self.publisher.publish(
            event, topic_id=topic_id, event_id=event_id, source=source, time=accepted_at
        )
        EVENTS_PRODUCED.labels("intake", published.topic, event.avro_name).inc()
        return Accepted(
            event_id=published.meta.id,
            case_id=event.case_id,
            type=published.meta.type,
            accepted_at=accepted_at,
            topic=published.topic,
        )


def _found(rescue: RescueNotified) -> AlertCancelled:
    """What a rescue that closes its alert does to the alert (the router sends it)."""
    return AlertCancelled(case_id=rescue.case_id, reason=CancelReason.FOUND, actor=rescue.actor)
