"""Public tips: the acknowledgement clock, as pure functions like the report
clock in reports.py. A tip is routed to the case's unit by the gateway; here
only its clock is kept (ids and times), never what was seen or the tipster.

Unacknowledged past its due time, a TipOverdue goes to the unit's own police
inbox (the officer may have missed it) and to the coordination office nearest
the unit (who supervises the response), once."""

from __future__ import annotations

from datetime import datetime

from homeward.agencies import AgencyType
from homeward.errors import ValidationError
from homeward.events import TipAcknowledged, TipOverdue, TipReceived
from homeward_referrals.outbound import LOG, Outbound, Outcome, Router, inbox, to_office
from homeward_referrals.state import TipClock, TipsState, derive_id, from_ms, to_ms


def handle_tip(
    state: TipsState | None,
    tip: TipReceived,
    *,
    event_id: str,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """A tip received: start its clock from when the gateway published it."""
    state = state or TipsState(tip.case_id)
    known = state.tips.get(tip.tip_id)
    if known is not None:
        if known.event_id == event_id:
            return Outcome(state, note="duplicate tip: already handled")
        raise ValidationError("a tip was already received under this id", field="tip_id")
    received_ms = to_ms(event_time)
    state.tips[tip.tip_id] = TipClock(
        tip_id=tip.tip_id,
        event_id=event_id,
        agency_id=tip.agency_id,
        officer_id=tip.officer.officer_id,
        received_ms=received_ms,
        due_ms=received_ms + int(router.tip_ack.total_seconds() * 1000),
    )
    return Outcome(state)


def handle_tip_ack(
    state: TipsState | None,
    ack: TipAcknowledged,
    *,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """Police of the tip's unit acknowledged: the clock stops; an acknowledgement
    that came too late is overdue even if no tick judged it in between. A later
    acknowledgement (a verdict given afterwards) changes no clock."""
    clock = state.tips.get(ack.tip_id) if state else None
    if state is None or clock is None:
        raise ValidationError("no tip was received under this id", field="tip_id")
    _check_unit(ack, clock)
    out: list[Outbound] = []
    if not clock.acknowledged and not clock.overdue_sent and to_ms(event_time) > clock.due_ms:
        out = _overdue(clock, state.case_id, event_time, router)
    clock.acknowledged = True
    return Outcome(state, out)


def _check_unit(ack: TipAcknowledged, clock: TipClock) -> None:
    actor = ack.actor
    if actor is None:
        raise ValidationError(
            "the acknowledgement carries no actor; only police may acknowledge", field="actor"
        )
    if actor.agency_type != AgencyType.POLICE.value:
        raise ValidationError(
            f"only police acknowledge a tip; the actor {actor.principal!r} is "
            f"{actor.agency_type or 'no agency type'!r}",
            field="actor.agency_type",
        )
    if actor.agency_id != ack.agency_id:
        raise ValidationError(
            f"the acknowledgement is for {ack.agency_id!r} but its actor "
            f"{actor.principal!r} is of agency {actor.agency_id!r}",
            field="actor.agency_id",
        )
    if ack.agency_id != clock.agency_id:
        raise ValidationError(
            f"the tip was routed to {clock.agency_id!r}, not to {ack.agency_id!r}",
            field="agency_id",
        )


def handle_tip_tick(state: TipsState | None, *, now: datetime, router: Router) -> Outcome:
    """Every tip of the case unacknowledged past its due time: overdue, once each."""
    if state is None:
        return Outcome(state)
    out: list[Outbound] = []
    for clock in state.tips.values():
        if clock.next_wakeup_ms() is not None and to_ms(now) > clock.due_ms:
            out += _overdue(clock, state.case_id, now, router)
    return Outcome(state, out)


def _overdue(clock: TipClock, case_id: str, now: datetime, router: Router) -> list[Outbound]:
    clock.overdue_sent = True
    overdue = TipOverdue(
        case_id=case_id,
        tip_id=clock.tip_id,
        agency_id=clock.agency_id,
        officer_id=clock.officer_id,
        received_at=from_ms(clock.received_ms),
        due_at=from_ms(clock.due_ms),
    )
    eid = derive_id(clock.event_id, "overdue")
    unit_inbox = Outbound(
        overdue, clock.agency_id, inbox(AgencyType.POLICE), eid, clock.event_id, now
    )
    unit = router.agencies.get(clock.agency_id)
    if unit is None:
        # Not in the directory (left it since): the log at least, for the office's view.
        return [unit_inbox, Outbound(overdue, case_id, LOG, eid, clock.event_id, now)]
    return [
        unit_inbox,
        *to_office(overdue, unit.latitude, unit.longitude, eid, clock.event_id, now, router),
    ]
