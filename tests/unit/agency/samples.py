"""Builders of plainly fake deliveries for the agency tests (no real people
or places: "Test Child", "Fakeville")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from homeward.codec import Codec, Record
from homeward.events import (
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    DeliveryEscalated,
    Location,
    MandatoryReportFiled,
    PersonAtRisk,
    PublicNotice,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    RejectionReason,
    Reporter,
    ReportOverdue,
    ResponsibleOfficer,
    Sector,
    SightingReported,
    TaskStatus,
    VictimProfile,
)
from homeward.events.base import Event

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
FANOUT_SOURCE = "urn:homeward:fanout:test"


def issued(case_id: str = "CASE-TEST-1", name: str = "Test Child Alpha") -> AlertIssued:
    return AlertIssued(
        case_id=case_id,
        issuing_unit="Fakeville Test Unit",
        chief_officer=ResponsibleOfficer(
            officer_id="OFF-1", name="Officer Example", unit="Fakeville Test Unit"
        ),
        child=ChildDescription(name=name, sex="female", age_years=7, clothing="red test coat"),
        last_seen=Location(latitude=30.0, longitude=104.0, description="Example Park, Fakeville"),
        last_seen_at=T0 - timedelta(hours=1),
        public_summary="Fake alert for testing: child last seen near Example Park.",
    )


def updated(case_id: str = "CASE-TEST-1") -> AlertUpdated:
    return AlertUpdated(case_id=case_id, new_information="Now thought to wear a blue test hat.")


def sighting(case_id: str = "CASE-TEST-1") -> SightingReported:
    return SightingReported(
        case_id=case_id,
        sighting_id="SIGHT-1",
        location=Location(latitude=30.1, longitude=104.1, description="Sample Station, Fakeville"),
        seen_at=T0,
        reporter_kind="public",
        description="A child matching the test description.",
    )


def cancelled(case_id: str = "CASE-TEST-1") -> AlertCancelled:
    return AlertCancelled(case_id=case_id, reason=CancelReason.FOUND, note="Found safe (test).")


def delivery(
    agency_id: str,
    delivery_id: str,
    *,
    agency_type: str = "police",
    event: Event | None = None,
    attempt: int = 1,
    accepted_at: datetime = T0,
) -> AlertDelivery:
    inner = event or issued()
    return AlertDelivery(
        case_id=inner.case_id,
        delivery_id=delivery_id,
        agency_id=agency_id,
        agency_type=agency_type,
        attempt=attempt,
        ring_km=5,
        distance_km=2.25,
        accepted_at=accepted_at,
        source_event_id="00000000-test-event",
        event=inner,  # type: ignore[arg-type]
    )


def escalated(delivery_id: str, failing_agency: str = "SCHOOL-TEST-9") -> DeliveryEscalated:
    return DeliveryEscalated(
        case_id="CASE-TEST-1",
        delivery_id=delivery_id,
        agency_id=failing_agency,
        agency_type="education",
        attempts=3,
        first_sent_at=T0,
    )


def public_notice(case_id: str = "CASE-TEST-1") -> PublicNotice:
    return PublicNotice(
        case_id=case_id, status="active", summary="Fake public notice: help find a test child."
    )


def referral(
    agency_id: str = "HL-TEST-1",
    referral_id: str = "REF-TEST-1",
    *,
    agency_type: str = "health",
    offer: int = 1,
    case_id: str = "CASE-TEST-1",
) -> ReferralRequested:
    return ReferralRequested(
        case_id=case_id,
        referral_id=referral_id,
        rule_id="health_check",
        service="Health check, treatment and infectious-disease screening",
        agency_id=agency_id,
        agency_type=agency_type,
        offer=offer,
        requested_at=T0,
        answer_due=T0 + timedelta(hours=4),
        complete_due=T0 + timedelta(days=2),
        victim=VictimProfile(name="Test Child Beta", age_years=9, sex="female", is_child=True),
        cites="Ninghe 二(二)5 (test)",
    )


def answer_refused(
    agency_id: str = "HL-TEST-1", current: TaskStatus | None = TaskStatus.ACCEPTED
) -> ReferralAnswerRefused:
    return ReferralAnswerRefused(
        case_id="CASE-TEST-1",
        referral_id="REF-TEST-1",
        agency_id=agency_id,
        status="received",
        current_status=current,
        reason="cannot go from accepted to received (test)",
        answer_event_id="00000000-test-answer",
    )


def referral_overdue(agency_id: str = "HL-TEST-1") -> ReferralOverdue:
    return ReferralOverdue(
        case_id="CASE-TEST-1",
        referral_id="REF-TEST-1",
        rule_id="health_check",
        service="Health check",
        agency_id=agency_id,
        agency_type="health",
        offer=1,
        status=TaskStatus.REQUESTED,
        phase="answer",
        due_at=T0 + timedelta(hours=4),
    )


def referral_escalated() -> ReferralEscalated:
    return ReferralEscalated(
        case_id="CASE-TEST-1",
        referral_id="REF-TEST-1",
        rule_id="welfare_placement",
        service="Placement in a child-welfare institution",
        agency_type="civil_affairs",
        offers=2,
        last_reason=RejectionReason.NO_CAPACITY,
    )


def report_overdue(report_id: str = "RPT-TEST-1") -> ReportOverdue:
    return ReportOverdue(
        case_id=report_id,
        sector=Sector.EDUCATION,
        filed_at=T0,
        due_at=T0 + timedelta(hours=1),
        area="Fakeville district",
    )


def report(report_id: str = "RPT-TEST-1") -> MandatoryReportFiled:
    return MandatoryReportFiled(
        case_id=report_id,
        sector=Sector.HOTEL,
        reporter=Reporter(name="Test Clerk Gamma", organisation="Fake Hotel", role="clerk"),
        observed="An adult checked in with a child who seemed frightened (test).",
        location=Location(latitude=30.2, longitude=104.2, description="Fake Hotel, Fakeville"),
        observed_at=T0,
        person=PersonAtRisk(description="Child, about 10 (test)", apparent_age_years=10),
    )


def encode(codec: Codec, event: Event, key: str) -> Record:
    record, _meta = codec.encode(event, key=key, source=FANOUT_SOURCE)
    return record


@dataclass
class RawRecord:
    """A consumer record's fields, as kafka-python's ConsumerRecord has them."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def raw(
    record: Record,
    *,
    offset: int = 0,
    timestamp: datetime | None = None,
    topic: str = "police.inbox.v1",
) -> RawRecord:
    ts = timestamp or T0 + timedelta(milliseconds=250)
    return RawRecord(
        topic, 0, offset, int(ts.timestamp() * 1000), record.key, record.value, list(record.headers)
    )
