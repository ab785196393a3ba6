"""Mandatory reports: the acknowledgement clock, as pure functions like the
referral decisions in planner.py. Only the clock is kept: sector, times and
a coarse area, never the reporter, the person, what was seen or where.

The report's place is the reporter's own words and exact point (a school, a
hotel's address): it identifies the reporter, so it stays on police-only
topics. What leaves them (the router's state and changelog, the overdue
notice to the coordination office, referrals.events.v1, the timeline) is
the county-level administrative division code of the place and the point
rounded to 0.01 degrees (about 1 km; enough to pick the nearest office)."""

from __future__ import annotations

from datetime import datetime

from homeward.agencies import AgencyType
from homeward.errors import ValidationError
from homeward.events import MandatoryReportFiled, ReportAcknowledged, ReportOverdue, Sector
from homeward_referrals.outbound import Outcome, Router, to_office
from homeward_referrals.state import ReportState, derive_id, from_ms, to_ms

COARSE_DEGREES = 2
COUNTY_DIGITS = 6  # GB/T 2260: province, prefecture, county
UNKNOWN_AREA = "unknown"


def coarse_area(admin_code: str | None) -> str:
    """The county-level division code of a place's code, or "unknown"."""
    return admin_code[:COUNTY_DIGITS] if admin_code else UNKNOWN_AREA


def handle_report(
    state: ReportState | None,
    report: MandatoryReportFiled,
    *,
    event_id: str,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """A report filed: start its acknowledgement clock. Only the clock is kept."""
    if state is not None:
        if state.event_id == event_id:
            return Outcome(state, note="duplicate report: already handled")
        raise ValidationError("a report was already filed under this id", field="case_id")
    filed_ms = to_ms(event_time)
    state = ReportState(
        report_id=report.case_id,
        event_id=event_id,
        sector=report.sector.value,
        filed_ms=filed_ms,
        due_ms=filed_ms + int(router.report_ack.total_seconds() * 1000),
        area=coarse_area(report.location.admin_code),
        lat=round(report.location.latitude, COARSE_DEGREES),
        lon=round(report.location.longitude, COARSE_DEGREES),
    )
    return Outcome(state)


def handle_report_ack(
    state: ReportState | None,
    ack: ReportAcknowledged,
    *,
    event_time: datetime,
    router: Router,
) -> Outcome:
    """Police acknowledged: the clock stops, and an acknowledgement that came too
    late is overdue even if no tick judged the report in between."""
    _check_police(ack)
    if state is None:
        raise ValidationError("no report was filed under this id", field="case_id")
    late = handle_report_tick(state, now=event_time, router=router)
    state.acknowledged = True
    return Outcome(state, late.out)


def _check_police(ack: ReportAcknowledged) -> None:
    """Only police acknowledge a report, each for its own agency: an
    acknowledgement that is not stops no clock (it is dead-lettered)."""
    actor = ack.actor
    if actor is None:
        raise ValidationError(
            "the acknowledgement carries no actor; only police may acknowledge", field="actor"
        )
    if actor.agency_type != AgencyType.POLICE.value:
        raise ValidationError(
            f"only police acknowledge a report; the actor {actor.principal!r} is "
            f"{actor.agency_type or 'no agency type'!r}",
            field="actor.agency_type",
        )
    if actor.agency_id != ack.agency_id:
        raise ValidationError(
            f"the acknowledgement is for {ack.agency_id!r} but its actor "
            f"{actor.principal!r} is of agency {actor.agency_id!r}",
            field="actor.agency_id",
        )


def handle_report_tick(state: ReportState | None, *, now: datetime, router: Router) -> Outcome:
    """Unacknowledged past its due time: tell the coordination office, once."""
    if state is None or state.next_wakeup_ms() is None or to_ms(now) <= state.due_ms:
        return Outcome(state)
    state.overdue_sent = True
    overdue = ReportOverdue(
        case_id=state.report_id,
        sector=Sector(state.sector),
        filed_at=from_ms(state.filed_ms),
        due_at=from_ms(state.due_ms),
        area=state.area,
    )
    eid = derive_id(state.event_id, "overdue")
    return Outcome(
        state, to_office(overdue, state.lat, state.lon, eid, state.event_id, now, router)
    )
