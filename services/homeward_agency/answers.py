"""Answering referrals: the agency's side of the FHIR Task lifecycle.

A referral is answered, not acknowledged: ReferralAnswered with a FHIR Task
status, a coded reason for rejected / failed, a coded outcome for completed.
The SDK checks each answer with homeward.lifecycle against the status it last
saw or sent for that referral (its own memory), so a step the table refuses
raises TransitionError naming the field and nothing is published. The router
checks again and is the authority; its refusals arrive in the inbox
(ReferralAnswerRefused, with the status it holds).

Where an answer goes: a police answer may carry DNA data in its note, and DNA
data only ever travels on police.* topics, so police answer on
police.referrals.v1 and every other agency on referrals.answers.v1.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from homeward import kafka, lifecycle
from homeward.actors import agency_actor
from homeward.codec import Codec, Record
from homeward.errors import HomewardError
from homeward.events import (
    Actor,
    Outcome,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralOverdue,
    ReferralRequested,
    RejectionReason,
    TaskStatus,
)
from homeward.events.base import Event
from homeward.lifecycle import TransitionError
from homeward.metric_labels import field_label
from homeward.metrics import SDK_REFUSED, SDK_SENT
from homeward_agency.delivery import Delivery, source_for
from homeward_agency.outbox import SDK

DEFAULT_MEMORY = 100_000

Key = tuple[str, str, str]  # (agency id, case id, referral id)


@dataclass(frozen=True)
class SentAnswer:
    """An answer the broker acknowledged."""

    event: ReferralAnswered
    event_id: str
    """Its ce_id; the router's ReferralStatusChanged cites it as answer_event_id."""
    topic: str


@dataclass(frozen=True)
class PlannedAnswer:
    """One answer a simulated agency gives (Fleet's answer policies return these)."""

    status: TaskStatus | str
    reason: RejectionReason | str | None = None
    outcome: Outcome | str | None = None
    note: str = ""
    after: float = 0.0
    """Seconds after the referral reached the fleet."""


def coded(
    status: TaskStatus | str,
    reason: RejectionReason | str | None,
    outcome: Outcome | str | None,
) -> tuple[TaskStatus, RejectionReason | None, Outcome | None]:
    """The answer's codes as enums; an unknown code is a TransitionError naming its field."""
    parts: list[Any] = []
    for field, enum, value in (
        ("status", TaskStatus, status),
        ("reason", RejectionReason, reason),
        ("outcome", Outcome, outcome),
    ):
        if value is None:
            parts.append(None)
            continue
        try:
            parts.append(enum(value))
        except ValueError:
            codes = ", ".join(m.value for m in enum)
            raise TransitionError(
                f"{value!r} is not a code (one of: {codes})", field=field
            ) from None
    return parts[0], parts[1], parts[2]


def check(
    current: TaskStatus | None,
    status: TaskStatus,
    reason: RejectionReason | None,
    outcome: Outcome | None,
) -> TaskStatus:
    """The new status, or TransitionError. With no known status only the coded
    parts can be checked; the router judges the step."""
    lifecycle.check_answer(status, reason, outcome)
    if current is None:
        return status
    return lifecycle.step(current, status, reason, outcome)


def answer_record(
    codec: Codec,
    *,
    case_id: str,
    referral_id: str,
    agency_id: str,
    status: TaskStatus,
    reason: RejectionReason | None = None,
    outcome: Outcome | None = None,
    note: str = "",
    causation_id: str | None = None,
    actor: Actor | None = None,
) -> tuple[Record, ReferralAnswered, str]:
    """The ReferralAnswered record, keyed by case id; with its event id. Its
    actor is the agency's (the router refuses an answer whose actor is not of
    the agency answering); by default agency_actor(agency_id, "")."""
    event = ReferralAnswered(
        case_id=case_id,
        referral_id=referral_id,
        agency_id=agency_id,
        status=status,
        reason=reason,
        outcome=outcome,
        note=note,
        actor=actor or agency_actor(agency_id, ""),
    )
    event_id = str(uuid.uuid4())
    record, _meta = codec.encode(
        event,
        key=case_id,
        source=source_for(agency_id),
        correlation_id=case_id,
        causation_id=causation_id,
        event_id=event_id,
    )
    return record, event, event_id


def prepare(
    codec: Codec,
    memory: ReferralMemory,
    *,
    agency_id: str,
    topic: str,
    case_id: str,
    referral_id: str,
    status: TaskStatus | str,
    reason: RejectionReason | str | None = None,
    outcome: Outcome | str | None = None,
    note: str = "",
    current: TaskStatus | str | None = None,
    causation_id: str | None = None,
    actor: Actor | None = None,
) -> tuple[Record, SentAnswer]:
    """Check an answer and build its record (nothing is sent here).

    The step is checked against `current`, else the status `memory` holds for
    the referral; raises TransitionError naming the field when refused."""
    new, code, result = coded(status, reason, outcome)
    known = (
        coded(current, None, None)[0]
        if current is not None
        else memory.get(agency_id, case_id, referral_id)
    )
    check(known, new, code, result)
    record, event, event_id = answer_record(
        codec,
        case_id=case_id,
        referral_id=referral_id,
        agency_id=agency_id,
        status=new,
        reason=code,
        outcome=result,
        note=note,
        causation_id=causation_id,
        actor=actor,
    )
    return record, SentAnswer(event, event_id, topic)


class ReferralMemory:
    """The status last seen or sent per (agency, case, referral); a bounded LRU.

    Bounded like the de-duplication set: a referral lives for days, an agency
    holds far fewer than DEFAULT_MEMORY open ones, and one evicted is simply
    unknown again (its next answer is judged by the router alone)."""

    def __init__(self, capacity: int = DEFAULT_MEMORY) -> None:
        self.capacity = capacity
        self._known: OrderedDict[Key, tuple[TaskStatus, int]] = OrderedDict()
        # Our answers the broker took whose status change the router has not yet
        # confirmed, oldest first: a confirmation of an earlier one must not undo
        # a later one ("accepted" read back after "in-progress" was sent).
        self._pending: dict[Key, list[str]] = {}
        # An agency may answer from another thread than the one reading its inbox.
        self._lock = threading.Lock()

    def get(self, agency_id: str, case_id: str, referral_id: str) -> TaskStatus | None:
        with self._lock:
            found = self._known.get((agency_id, case_id, referral_id))
        return found[0] if found is not None else None

    def offer(self, agency_id: str, case_id: str, referral_id: str) -> int:
        with self._lock:
            found = self._known.get((agency_id, case_id, referral_id))
        return found[1] if found is not None else 0

    def set(
        self, agency_id: str, case_id: str, referral_id: str, status: TaskStatus, offer: int = 0
    ) -> None:
        key = (agency_id, case_id, referral_id)
        with self._lock:
            known = self._known.get(key)
            self._known[key] = (status, max(offer, known[1] if known else 0))
            self._known.move_to_end(key)
            if len(self._known) > self.capacity:
                evicted, _ = self._known.popitem(last=False)
                self._pending.pop(evicted, None)

    def confirm(
        self,
        agency_id: str,
        case_id: str,
        referral_id: str,
        status: TaskStatus,
        offer: int,
        answer_event_id: str | None,
    ) -> None:
        """The router's status change (the authority). Applied unless it confirms
        one of our answers while a later one of ours is still unconfirmed."""
        key = (agency_id, case_id, referral_id)
        with self._lock:
            pending = self._pending.get(key, [])
            if answer_event_id is not None and answer_event_id in pending:
                del pending[: pending.index(answer_event_id) + 1]
                if pending:
                    return  # our later answer's status stands until it is confirmed
            # Anyone else's answer, or the router's own step (a re-offer, a
            # cancellation): what we sent since is judged by the router anew.
            self._pending.pop(key, None)
        self.set(agency_id, case_id, referral_id, status, offer)

    def observe(self, agency_id: str, event: Event) -> None:
        """Learn from an inbox record: a new referral is `requested`; the router's
        refusals and overdue notices about our referral carry its status."""
        if isinstance(event, ReferralRequested) and event.agency_id == agency_id:
            ids = (agency_id, event.case_id, event.referral_id)
            # A copy of an offer already answered must not reset it to requested.
            if self.get(*ids) is None or event.offer > self.offer(*ids):
                self.set(*ids, TaskStatus.REQUESTED, event.offer)
        elif isinstance(event, ReferralAnswerRefused) and event.agency_id == agency_id:
            if event.current_status is not None:
                with self._lock:  # the router's word: what we sent after is judged anew
                    self._pending.pop((agency_id, event.case_id, event.referral_id), None)
                self.set(agency_id, event.case_id, event.referral_id, event.current_status)
        elif isinstance(event, ReferralOverdue) and event.agency_id == agency_id:
            ids = (agency_id, event.case_id, event.referral_id)
            with self._lock:
                ours_newer = bool(self._pending.get(ids))
            if not ours_newer:  # else the notice's status predates our unconfirmed answer
                self.set(*ids, event.status, event.offer)

    def sent(self, answer: SentAnswer) -> None:
        """Remember an answer the broker acknowledged."""
        e = answer.event
        self.set(e.agency_id, e.case_id, e.referral_id, e.status)
        with self._lock:
            key = (e.agency_id, e.case_id, e.referral_id)
            if key in self._known:
                self._pending.setdefault(key, []).append(answer.event_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._known)


class AnswersReferrals:
    """The Subscriber's answers to its referrals (mixed into it): what it
    needs of the Subscriber is declared here."""

    agency_id: str
    actor: Actor
    codec: Codec
    referrals: ReferralMemory
    answers_topic: str
    _producer: kafka.Producer
    _counts: dict[str, int]

    def answer(
        self,
        delivery: Delivery,
        status: TaskStatus | str,
        *,
        reason: RejectionReason | str | None = None,
        outcome: Outcome | str | None = None,
        note: str = "",
        timeout: float = 30.0,
    ) -> SentAnswer:
        """Answer the referral `delivery` is about (a referral, or the router's
        refusal or overdue notice about one): see answer_referral."""
        referral_id = delivery.referral_id
        if referral_id is None:
            raise ValueError(f"a {delivery.kind} is not about a referral; nothing to answer")
        return self.answer_referral(
            delivery.case_id,
            referral_id,
            status,
            reason=reason,
            outcome=outcome,
            note=note,
            causation_id=delivery.meta.id,
            timeout=timeout,
        )

    def answer_referral(
        self,
        case_id: str,
        referral_id: str,
        status: TaskStatus | str,
        *,
        reason: RejectionReason | str | None = None,
        outcome: Outcome | str | None = None,
        note: str = "",
        current: TaskStatus | str | None = None,
        causation_id: str | None = None,
        timeout: float = 30.0,
    ) -> SentAnswer:
        """Publish ReferralAnswered for this agency and wait for the broker's ack.

        The step is checked with homeward.lifecycle against `current`, else the
        status this SDK last saw or sent for the referral: a refused step raises
        TransitionError (.field, .reason) and publishes nothing. For a referral
        it never saw (e.g. after a restart) only the coded reason / outcome are
        checked, and the router judges the step. Police answer on
        police.referrals.v1 (a note may hold DNA data), every other agency on
        referrals.answers.v1; keyed by the case id."""
        try:
            record, sent = prepare(
                self.codec,
                self.referrals,
                agency_id=self.agency_id,
                topic=self.answers_topic,
                case_id=case_id,
                referral_id=referral_id,
                status=status,
                reason=reason,
                outcome=outcome,
                note=note,
                current=current,
                causation_id=causation_id,
                actor=self.actor,
            )
        except HomewardError as exc:
            SDK_REFUSED.labels(SDK, field_label(exc.field, "answer")).inc()
            raise
        kafka.send_all(self._producer, [(self.answers_topic, record)], timeout=timeout)
        SDK_SENT.labels(SDK, self.answers_topic, sent.event.avro_name).inc()
        self.referrals.sent(sent)
        self._counts["answers_sent"] += 1
        return sent
