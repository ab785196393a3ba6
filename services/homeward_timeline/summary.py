"""One short line per event type for the case timeline.

A summary names statuses, agencies, services, units and times: what happened
and who acted. It never carries a person's name, DNA data (samples,
profiles, comparison results), free-text notes or descriptions, so a timeline
can be read without exposing the people in it. Unknown types get their name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    CaseOutcomeRecorded,
    DnaComparisonRecorded,
    Event,
    MandatoryReportFiled,
    RadiusExpanded,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    ReportAcknowledged,
    ReportOverdue,
    RescueNotified,
    SightingReported,
    TipOverdue,
)


def _coded(reason: Any, outcome: Any) -> str:
    parts = []
    if reason is not None:
        parts.append(f"reason {reason.value}")
    if outcome is not None:
        parts.append(f"outcome {outcome.value}")
    return f" ({', '.join(parts)})" if parts else ""


def _time(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%MZ}"


def _alert_issued(e: AlertIssued) -> str:
    targets = ", ".join(t.value for t in e.target_types) or "all agency types"
    return f"alert issued by {e.issuing_unit} to {targets}"


def _alert_updated(e: AlertUpdated) -> str:
    extra = [w for w, on in (("photo", e.photo_ref), ("public summary", e.public_summary)) if on]
    return "alert updated" + (f" (new {', '.join(extra)})" if extra else "")


def _sighting(e: SightingReported) -> str:
    return f"sighting {e.sighting_id} reported by {e.reporter_kind}"


def _radius(e: RadiusExpanded) -> str:
    return f"search radius widened from {e.previous_radius_km} to {e.radius_km} km"


def _cancelled(e: AlertCancelled) -> str:
    return f"alert closed: {e.reason.value}"


def _ack(e: AgencyAcknowledgement) -> str:
    return f"{e.agency_id} acknowledged delivery {e.delivery_id}"


def _rescue(e: RescueNotified) -> str:
    who = "child" if e.person.is_child else "adult"
    guardians = "guardians known" if e.person.guardians_known else "guardians not found"
    closes = "; closes the alert" if e.closes_alert else ""
    return f"rescue {e.rescue_id} by {e.rescuing_unit}: {who}, {guardians}{closes}"


def _requested(e: ReferralRequested) -> str:
    return (
        f"referral {e.referral_id} ({e.rule_id}) offered to {e.agency_id} ({e.agency_type}), "
        f"offer {e.offer}"
    )


def _answered(e: ReferralAnswered) -> str:
    return f"{e.agency_id} answered referral {e.referral_id}: {e.status.value}" + _coded(
        e.reason, e.outcome
    )


def _status(e: ReferralStatusChanged) -> str:
    step = f"{e.previous_status.value} -> " if e.previous_status is not None else ""
    return (
        f"referral {e.referral_id} ({e.rule_id}) at {e.agency_id} ({e.agency_type}), "
        f"offer {e.offer}: {step}{e.status.value}" + _coded(e.reason, e.outcome)
    )


def _refused(e: ReferralAnswerRefused) -> str:
    current = f" (status stays {e.current_status.value})" if e.current_status else ""
    return f"answer {e.status} from {e.agency_id} to referral {e.referral_id} refused{current}"


def _overdue(e: ReferralOverdue) -> str:
    return (
        f"referral {e.referral_id} ({e.rule_id}) at {e.agency_id} ({e.agency_type}) overdue "
        f"for {e.phase}, due {_time(e.due_at)}, status {e.status.value}"
    )


def _escalated(e: ReferralEscalated) -> str:
    last = f", last reason {e.last_reason.value}" if e.last_reason else ""
    return (
        f"referral {e.referral_id} ({e.rule_id}) escalated: no {e.agency_type} agency left "
        f"after {e.offers} offer(s){last}"
    )


def _dna(e: DnaComparisonRecorded) -> str:
    return f"DNA comparison recorded ({e.database})"  # never the sample, profile or result


def _outcome(e: CaseOutcomeRecorded) -> str:
    result = f": {e.result}" if e.result else ""
    return (
        f"{e.stage.replace('_', ' ')}{result} ({e.authority_type} {e.authority_id}, {e.reference})"
    )


def _report(e: MandatoryReportFiled) -> str:
    return f"mandatory report filed ({e.sector.value})"  # never the reporter or the person


def _report_ack(e: ReportAcknowledged) -> str:
    return f"report acknowledged by {e.police_unit} ({e.agency_id})"


def _report_overdue(e: ReportOverdue) -> str:
    return (
        f"mandatory report ({e.sector.value}, {e.area}) not acknowledged by police, "
        f"due {_time(e.due_at)}"
    )


def _tip_overdue(e: TipOverdue) -> str:
    # Never what was seen or who saw it: the coordination office reads this.
    return f"public tip {e.tip_id} not acknowledged by {e.agency_id}, due {_time(e.due_at)}"


SUMMARIES: dict[type[Event], Callable[[Any], str]] = {
    AlertIssued: _alert_issued,
    AlertUpdated: _alert_updated,
    SightingReported: _sighting,
    RadiusExpanded: _radius,
    AlertCancelled: _cancelled,
    AgencyAcknowledgement: _ack,
    RescueNotified: _rescue,
    ReferralRequested: _requested,
    ReferralAnswered: _answered,
    ReferralStatusChanged: _status,
    ReferralAnswerRefused: _refused,
    ReferralOverdue: _overdue,
    ReferralEscalated: _escalated,
    DnaComparisonRecorded: _dna,
    CaseOutcomeRecorded: _outcome,
    MandatoryReportFiled: _report,
    ReportAcknowledged: _report_ack,
    ReportOverdue: _report_overdue,
    TipOverdue: _tip_overdue,
}


# The agency a referral is at is where the victim is (a welfare placement is
# the shelter): named only to a reader with police clearance (issue 14).
AT_AN_AGENCY = (
    ReferralRequested,
    ReferralAnswered,
    ReferralStatusChanged,
    ReferralAnswerRefused,
    ReferralOverdue,
)
WITHHELD = "[agency withheld]"


def summarize(event: Event, *, police: bool = True) -> str:
    """The event's timeline line (its type's short name when it has no line of its own).

    Without `police` clearance a referral's agency is withheld; its type stays."""
    line = SUMMARIES.get(type(event))
    if line is None:
        return event.ce_type().rsplit(".", 1)[-1]
    if not police and isinstance(event, AT_AN_AGENCY):
        event = event.model_copy(update={"agency_id": WITHHELD})
    return line(event)
