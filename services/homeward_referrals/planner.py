"""The router's decisions, as pure functions of (state, input, time).

The Faust agent feeds each record of a case (or report) here, in order, and
carries out what comes back: referral requests to agency inboxes, refusals,
overdue notices and escalations to the coordination office, each logged on
the referral events topic, and the new state for its table. Time is always
an input (the record's ce_time, or a ClockTick's `now`), never the wall
clock, so every deadline is unit-tested without waiting.

Every id is derived from what caused it (see state.derive_id), so handling
the same input twice yields the same records, and readers drop the copy.
"""

from __future__ import annotations

from datetime import datetime

from homeward.agencies import Agency, AgencyType
from homeward.errors import ValidationError
from homeward.events import (
    AlertCancelled,
    CancelReason,
    Classification,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    RejectionReason,
    RescueNotified,
    TaskStatus,
    VictimProfile,
)
from homeward.events import Outcome as TaskOutcome
from homeward.lifecycle import TransitionError, step
from homeward_referrals.outbound import (
    ALERTS,
    LOG,
    Outbound,
    Outcome,
    Router,
    inbox,
    to_office,
)
from homeward_referrals.reach import nearest
from homeward_referrals.reports import handle_report, handle_report_ack, handle_report_tick
from homeward_referrals.state import (
    OFFERABLE,
    CaseState,
    Referral,
    derive_id,
    from_ms,
    to_ms,
)
from homeward_referrals.tips import handle_tip, handle_tip_ack, handle_tip_tick

__all__ = [
    "LOG",
    "Outbound",
    "Outcome",
    "Router",
    "handle_answer",
    "handle_family_found",
    "handle_report",
    "handle_report_ack",
    "handle_report_tick",
    "handle_rescue",
    "handle_tick",
    "handle_tip",
    "handle_tip_ack",
    "handle_tip_tick",
]


# -- rescues and answers ------------------------------------------------------


def handle_rescue(
    state: CaseState | None,
    rescue: RescueNotified,
    *,
    event_id: str,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """A rescue: one referral per matching rule, to the nearest agency of its type."""
    if state is not None and event_id in state.seen:
        return Outcome(state, note="duplicate rescue: already handled")
    state = state or CaseState(rescue.case_id)
    out: list[Outbound] = []
    for rule in router.rules.matching(rescue.person):
        rid = derive_id(event_id, rule.id)
        profile = router.projections.victim_profile(rescue, rule.to.value)
        ref = Referral(
            referral_id=rid,
            rule_id=rule.id,
            service=rule.service,
            cites=rule.cites,
            agency_type=rule.to.value,
            answer_ms=int(rule.answer.total_seconds() * 1000),
            complete_ms=int(rule.complete.total_seconds() * 1000),
            lat=rescue.location.latitude,
            lon=rescue.location.longitude,
            cause=event_id,
            victim=profile.model_dump(mode="json"),
            after=rule.after,
            wait_ms=int(rule.wait.total_seconds() * 1000) if rule.wait else 0,
        )
        state.referrals[rid] = ref
        if ref.after is None:
            out += _offer(state, ref, event_time, event_id, router)
    if rescue.closes_alert:
        # Through the alert stream, so the fan-out tells every agency that had the alert.
        # Who reported the rescue closed the alert: its actor, not the router's.
        cancelled = AlertCancelled(
            case_id=rescue.case_id, reason=CancelReason.FOUND, actor=rescue.actor
        )
        eid = derive_id(event_id, "alert-cancelled")
        out.append(Outbound(cancelled, rescue.case_id, ALERTS, eid, event_id, event_time))
    state.remember(event_id)
    return Outcome(state, out)


def handle_answer(
    state: CaseState | None,
    answer: ReferralAnswered,
    *,
    event_id: str,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """An agency's answer: a legal step moves the referral on; anything else is refused."""
    if state is not None and event_id in state.seen:
        return Outcome(state, note="duplicate answer: already handled")
    agency = router.agencies.get(answer.agency_id)
    if agency is None:
        # No inbox to tell it in: the record goes to the dead letters.
        raise ValidationError("not an agency in the directory", field="agency_id")
    # Acting for an agency means being it: the answer's actor must be of the
    # agency it answers for (a direct Kafka write asserts its actor: see
    # homeward/actors.py for what that check can and cannot stop).
    actor = answer.actor
    if actor is None:
        reason = "actor: the answer carries no actor; it cannot act for an agency"
        return _refuse(state, answer, agency, event_id, event_time, reason, None)
    if actor.agency_id != answer.agency_id:
        reason = (
            f"actor.agency_id: the answer is for {answer.agency_id!r} but its actor "
            f"{actor.principal!r} is of agency {actor.agency_id!r}"
        )
        return _refuse(state, answer, agency, event_id, event_time, reason, None)
    ref = state.referrals.get(answer.referral_id) if state else None
    if state is None or ref is None:
        return _refuse(state, answer, agency, event_id, event_time, "no such referral", None)
    if ref.agency_id != answer.agency_id:
        reason = "the referral is not offered to this agency"
        return _refuse(state, answer, agency, event_id, event_time, reason, None)
    current = ref.task_status
    assert current is not None  # an agency holds the offer
    try:
        new = step(current, answer.status, answer.reason, answer.outcome)
    except TransitionError as exc:
        reason = f"{exc.field}: {exc.reason}"
        return _refuse(state, answer, agency, event_id, event_time, reason, current)
    # A late answer is late even if no tick came between its deadline and it
    # (the timer is periodic, the worker may have been down): judge first.
    out = _judge(state, ref, event_time, router)
    ref.status = new.value
    if answer.reason is not None:
        ref.last_reason = answer.reason.value
    out += [
        _changed(
            state,
            ref,
            derive_id(event_id, "status"),
            event_time,
            event_id,
            previous=current,
            status=new,
            reason=answer.reason,
            outcome=answer.outcome,
        )
    ]
    if new == TaskStatus.REJECTED:
        out += _offer(state, ref, event_time, event_id, router)
    elif new not in OFFERABLE:
        ref.victim = None  # no re-offer can follow: the profile has done its job
    if new == TaskStatus.COMPLETED:
        # A clocked rule waiting on this one starts its period now (Sichuan 13).
        for other in state.referrals.values():
            if other.waiting and other.after == ref.rule_id and other.cause == ref.cause:
                other.start_ms = to_ms(event_time) + other.wait_ms
    state.remember(event_id)
    return Outcome(state, out)


def handle_family_found(state: CaseState | None) -> Outcome:
    """Police recorded a DNA match: the family is found, so the clocked rules
    that wait for an unsuccessful search (admission and household
    registration, Sichuan 13) are dropped, never offered."""
    if state is None:
        return Outcome(None)
    state.family_found = True
    dropped = [r.rule_id for r in state.referrals.values() if r.waiting]
    for ref in state.referrals.values():
        if ref.waiting:
            ref.dropped, ref.victim = True, None
    return Outcome(state, note=f"family found; not offered: {', '.join(dropped) or 'none'}")


def _offer(
    state: CaseState, ref: Referral, at: datetime, cause: str, router: Router
) -> list[Outbound]:
    """Offer the referral to the nearest agency of its type not yet asked, or escalate."""
    agency_type = AgencyType(ref.agency_type)
    agency = nearest(
        router.agencies,
        ref.lat,
        ref.lon,
        agency_type=agency_type,
        max_km=router.max_km,
        exclude=ref.offered,
    )
    if agency is None or ref.victim is None:
        return _escalate(state, ref, at, cause, router)
    at_ms = to_ms(at)
    ref.offer += 1
    ref.agency_id = agency.id
    ref.offered.append(agency.id)
    ref.status = TaskStatus.REQUESTED.value
    ref.requested_ms = at_ms
    ref.answer_due_ms = at_ms + ref.answer_ms
    ref.complete_due_ms = at_ms + ref.complete_ms
    ref.overdue = []
    request = ReferralRequested(
        case_id=state.case_id,
        referral_id=ref.referral_id,
        rule_id=ref.rule_id,
        service=ref.service,
        agency_id=agency.id,
        agency_type=ref.agency_type,
        offer=ref.offer,
        requested_at=at,
        answer_due=from_ms(ref.answer_due_ms),
        complete_due=from_ms(ref.complete_due_ms),
        victim=VictimProfile.model_validate(ref.victim),
        cites=ref.cites,
    )
    # Police's profile is the whole person: it travels as police-only, on police's inbox.
    police = agency_type == AgencyType.POLICE
    offer_id = derive_id(ref.referral_id, "offer", str(ref.offer))
    return [
        Outbound(
            request,
            agency.id,
            inbox(agency_type),
            offer_id,
            cause,
            at,
            Classification.POLICE_ONLY if police else None,
        ),
        _changed(
            state, ref, derive_id(offer_id, "requested"), at, cause, TaskStatus.REQUESTED, None
        ),
    ]


def _escalate(
    state: CaseState, ref: Referral, at: datetime, cause: str, router: Router
) -> list[Outbound]:
    ref.escalated = True
    ref.agency_id = None
    ref.victim = None
    escalated = ReferralEscalated(
        case_id=state.case_id,
        referral_id=ref.referral_id,
        rule_id=ref.rule_id,
        service=ref.service,
        agency_type=ref.agency_type,
        offers=ref.offer,
        last_reason=RejectionReason(ref.last_reason) if ref.last_reason else None,
    )
    eid = derive_id(ref.referral_id, "escalated")
    return to_office(escalated, ref.lat, ref.lon, eid, cause, at, router)


def _changed(
    state: CaseState,
    ref: Referral,
    eid: str,
    at: datetime,
    cause: str,
    status: TaskStatus,
    previous: TaskStatus | None,
    reason: RejectionReason | None = None,
    outcome: TaskOutcome | None = None,
) -> Outbound:
    assert ref.agency_id is not None
    changed = ReferralStatusChanged(
        case_id=state.case_id,
        referral_id=ref.referral_id,
        rule_id=ref.rule_id,
        agency_id=ref.agency_id,
        agency_type=ref.agency_type,
        offer=ref.offer,
        previous_status=previous,
        status=status,
        # Only the codes: an answer's free-text note (police's may name DNA
        # results) never reaches the log.
        reason=reason,
        outcome=outcome,
        changed_at=at,
        answer_event_id=cause if previous is not None else None,
    )
    return Outbound(changed, state.case_id, LOG, eid, cause, at)


def _refuse(
    state: CaseState | None,
    answer: ReferralAnswered,
    agency: Agency,
    answer_id: str,
    at: datetime,
    reason: str,
    current: TaskStatus | None,
) -> Outcome:
    refused = ReferralAnswerRefused(
        case_id=answer.case_id,
        referral_id=answer.referral_id,
        agency_id=answer.agency_id,
        status=answer.status.value,
        current_status=current,
        reason=reason,
        answer_event_id=answer_id,
    )
    eid = derive_id(answer_id, "refused")
    out = [
        Outbound(refused, agency.id, inbox(agency.type), eid, answer_id, at),
        Outbound(refused, answer.case_id, LOG, eid, answer_id, at),
    ]
    if state is not None:
        state.remember(answer_id)
    return Outcome(state, out, note=f"answer refused: {reason}")


# -- time ---------------------------------------------------------------------


def handle_tick(state: CaseState | None, *, now: datetime, router: Router) -> Outcome:
    """Judge the case's deadlines as of `now`: each phase is overdue once per offer."""
    if state is None:
        return Outcome(None)
    out = [ob for ref in state.referrals.values() for ob in _judge(state, ref, now, router)]
    for ref in state.referrals.values():
        # A clocked rule's period is over and no family was found: offer it now.
        started = ref.start_ms is not None and to_ms(now) >= ref.start_ms
        if ref.waiting and started and not state.family_found:
            out += _offer(state, ref, now, derive_id(ref.referral_id, "due"), router)
    return Outcome(state, out)


def _judge(state: CaseState, ref: Referral, now: datetime, router: Router) -> list[Outbound]:
    out: list[Outbound] = []
    for phase, due_ms in ref.due_phases():
        if to_ms(now) <= due_ms:
            continue
        ref.overdue.append(phase)
        assert ref.agency_id is not None and ref.task_status is not None
        overdue = ReferralOverdue(
            case_id=state.case_id,
            referral_id=ref.referral_id,
            rule_id=ref.rule_id,
            service=ref.service,
            agency_id=ref.agency_id,
            agency_type=ref.agency_type,
            offer=ref.offer,
            status=ref.task_status,
            phase=phase,
            due_at=from_ms(due_ms),
        )
        offer_id = derive_id(ref.referral_id, "offer", str(ref.offer))
        eid = derive_id(offer_id, "overdue", phase)
        out += to_office(overdue, ref.lat, ref.lon, eid, offer_id, now, router)
    return out
