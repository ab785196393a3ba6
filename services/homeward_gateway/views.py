"""What the API answers, as pydantic models (they are the OpenAPI schema too).

An entry shows the delivery as the SDK decodes it (`event`, the Avro record as
JSON) with the state kept beside it: who acknowledged it, the case's alert as
it stands now (a cancelled alert is closed), a referral's status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from homeward.events import AlertDelivery, ReferralRequested
from homeward.text import SafeLine, SafeLines
from homeward_gateway.store import (
    Acknowledgement,
    AlertState,
    AnomalyEntry,
    FiledReportEntry,
    InboxEntry,
)


class AckView(BaseModel):
    by: str = Field(description="The principal that acknowledged (a staff user or a client id).")
    at: datetime
    agency_id: str

    @classmethod
    def of(cls, ack: Acknowledgement | None) -> AckView | None:
        return None if ack is None else cls(by=ack.by, at=ack.at, agency_id=ack.agency_id)


class AlertView(BaseModel):
    case_id: str
    closed: bool = Field(description="Cancelled (found, false report, withdrawn) or closed.")
    cancel_reason: str | None = None
    ring_km: int
    distance_km: float
    updates: int
    sightings: int
    last_sighting_at: datetime | None = None
    last_sighting_place: str | None = None

    @classmethod
    def of(cls, state: AlertState | None) -> AlertView | None:
        if state is None:
            return None
        last = state.sightings[-1] if state.sightings else None
        return cls(
            case_id=state.case_id,
            closed=state.closed,
            cancel_reason=state.cancelled.reason.value if state.cancelled else None,
            ring_km=state.ring_km,
            distance_km=state.distance_km,
            updates=len(state.updates),
            sightings=len(state.sightings),
            last_sighting_at=last.seen_at if last else None,
            last_sighting_place=last.location.description if last else None,
        )


class ReferralView(BaseModel):
    referral_id: str
    status: str | None = Field(description="The FHIR Task status the gateway last saw or sent.")
    answer_due: datetime | None = None
    complete_due: datetime | None = None
    offer: int | None = None


class EntryView(BaseModel):
    cursor: int = Field(
        description="The page cursor and the SSE id: the record's offset in the agency's "
        "inbox partition, the same on every replica and after a restart."
    )
    seq: int = Field(description="This gateway process's arrival order (internal).")
    delivery_id: str
    kind: str = Field(
        description="alert, update, sighting, cancellation, public_notice, "
        "escalation, referral, answer_refused, referral_overdue, "
        "referral_escalated, report_overdue"
    )
    case_id: str
    agency_id: str
    event_id: str
    event_type: str
    received_at: datetime
    needs_ack: bool
    acknowledged: AckView | None = None
    alert: AlertView | None = None
    referral: ReferralView | None = None
    attempt: int | None = Field(default=None, description="An alert delivery's send attempt.")
    event: dict[str, Any] = Field(description="The inbox record, as JSON.")

    @classmethod
    def of(cls, entry: InboxEntry, referral_status: str | None = None) -> EntryView:
        d = entry.delivery
        event = d.event
        referral = None
        if d.referral_id is not None:
            offered = event if isinstance(event, ReferralRequested) else None
            referral = ReferralView(
                referral_id=d.referral_id,
                status=referral_status,
                answer_due=offered.answer_due if offered else None,
                complete_due=offered.complete_due if offered else None,
                offer=offered.offer if offered else None,
            )
        return cls(
            cursor=entry.cursor,
            seq=entry.seq,
            delivery_id=entry.delivery_id,
            kind=entry.kind,
            case_id=d.case_id,
            agency_id=entry.agency_id,
            event_id=d.meta.id,
            event_type=d.meta.type,
            received_at=entry.received_at,
            needs_ack=d.needs_ack,
            acknowledged=AckView.of(entry.acknowledged),
            alert=AlertView.of(entry.alert),
            referral=referral,
            attempt=event.attempt if isinstance(event, AlertDelivery) else None,
            event=event.model_dump(mode="json"),
        )


class InboxPage(BaseModel):
    items: list[EntryView]
    next_cursor: int | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class AckBody(BaseModel):
    model_config = {"extra": "forbid"}

    note: SafeLines = Field(default="", max_length=4000)


class AckAnswer(BaseModel):
    delivery_id: str
    acknowledged: AckView
    repeated: bool = Field(description="True when it was acknowledged before; nothing published.")
    event_id: str | None = Field(default=None, description="The AgencyAcknowledgement's ce_id.")


class AnswerBody(BaseModel):
    model_config = {"extra": "forbid"}

    status: str = Field(
        description="The FHIR Task status: accepted, rejected, in-progress, completed, failed..."
    )
    reason_code: str | None = Field(default=None, description="Required with rejected / failed.")
    note: SafeLines | None = Field(default=None, max_length=4000)
    outcome: str | None = Field(default=None, description="Required with completed.")


class AnswerAnswer(BaseModel):
    delivery_id: str
    referral_id: str
    status: str
    previous_status: str | None
    event_id: str = Field(description="The ReferralAnswered's ce_id.")
    topic: str


class ReportView(BaseModel):
    report_id: str
    sector: str
    observed: str
    observed_at: datetime
    place: str
    filed_at: datetime
    acknowledged: AckView | None = None
    police_unit: str | None = None
    event: dict[str, Any]

    @classmethod
    def of(cls, r: FiledReportEntry) -> ReportView:
        return cls(
            report_id=r.report_id,
            sector=r.report.sector.value,
            observed=r.report.observed,
            observed_at=r.report.observed_at,
            place=r.report.location.description,
            filed_at=r.filed_at,
            acknowledged=AckView.of(r.acknowledged),
            police_unit=r.police_unit or None,
            event=r.report.model_dump(mode="json"),
        )


class AnomalyView(BaseModel):
    anomaly_id: str = Field(description="The detector's id (the same evidence gives the same id).")
    rule: str
    severity: str
    hospital_id: str
    subject_id_number: str = Field(description="Whose records they are (the mother or patient).")
    summary: str
    evidence: list[str] = Field(description="The event id (ce_id) of every record that proves it.")
    detected_at: datetime
    raised_at: datetime = Field(description="When the detector published it.")

    @classmethod
    def of(cls, a: AnomalyEntry) -> AnomalyView:
        anomaly = a.anomaly
        return cls(
            anomaly_id=a.anomaly_id,
            rule=anomaly.rule.value,
            severity=anomaly.severity.value,
            hospital_id=anomaly.hospital_id,
            subject_id_number=anomaly.subject_id_number,
            summary=anomaly.summary,
            evidence=list(anomaly.evidence),
            detected_at=anomaly.detected_at,
            raised_at=a.raised_at,
        )


class ReportAckBody(BaseModel):
    model_config = {"extra": "forbid"}

    police_unit: SafeLine | None = Field(default=None, max_length=200)
    note: SafeLines = Field(default="", max_length=4000)


class ReportAckAnswer(BaseModel):
    report_id: str
    acknowledged: AckView
    repeated: bool
