"""Hypothesis strategies derived from the event models, and one fixed sample of
every event type.

The strategies read each pydantic field's annotation and constraints (length,
bounds, pattern), so a new event model is covered without touching this file.
Sizes are kept small: the properties are about shapes, not volume. Integers
stay in the Avro `int` range, which is what the schemas carry; whether a model
lets a larger value reach the encoder is tested on its own.
"""

from __future__ import annotations

import enum
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel

from homeward.events import (
    AdmissionRegistered,
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    AnomalyRule,
    AuditChained,
    AuditCheckpoint,
    AuditDetail,
    AuditEntry,
    Baby,
    BirthCertificateIssued,
    CancelReason,
    CaseOutcomeRecorded,
    ChildDescription,
    ClockTick,
    DeliveryEscalated,
    DeliveryRecorded,
    DischargeRecorded,
    DnaComparisonRecorded,
    DnaSample,
    Event,
    HealthAnomalyDetected,
    HouseholdRegistration,
    IdentityCheck,
    Location,
    MandatoryReportFiled,
    Outcome,
    PersonAtRisk,
    PersonIdentity,
    PublicNotice,
    RadiusExpanded,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    RejectionReason,
    ReportAcknowledged,
    Reporter,
    ReportOverdue,
    RescuedPerson,
    RescueNotified,
    ResponsibleOfficer,
    Sector,
    Severity,
    SightingReported,
    TaskStatus,
    TipAcknowledged,
    TipOverdue,
    TipReceived,
    TipVerdict,
    VictimProfile,
    WebhookReceipt,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_TEXT = 24
MAX_ITEMS = 3

# Letters, digits, CJK, punctuation, spaces and the odd control character.
_TEXT = st.characters(codec="utf-8", categories=("L", "N", "P", "Zs", "Cc", "So"))
_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        # Annotated[str, Field(...)] nested in a union or list keeps a FieldInfo,
        # whose own metadata holds the constraints.
        found.update(_constraints(getattr(item, "metadata", None) or []))
        for attr in ("min_length", "max_length", "ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, attr, None)
            if value is not None:
                found[attr] = value
    return found


def _text(c: dict[str, Any]) -> st.SearchStrategy[str]:
    low = int(c.get("min_length", 0))
    high = min(int(c.get("max_length", MAX_TEXT)), MAX_TEXT)
    if "pattern" in c:
        return st.from_regex(c["pattern"], fullmatch=True).filter(lambda s: low <= len(s) <= high)
    # The models strip surrounding whitespace; generate what they keep.
    return (
        st.text(_TEXT, min_size=low, max_size=high).map(str.strip).filter(lambda s: len(s) >= low)
    )


def _int(c: dict[str, Any]) -> st.SearchStrategy[int]:
    low = c.get("ge", c["gt"] + 1 if "gt" in c else INT32_MIN)
    high = c.get("le", c["lt"] - 1 if "lt" in c else INT32_MAX)
    return st.integers(max(low, INT32_MIN), min(high, INT32_MAX))


def _float(c: dict[str, Any]) -> st.SearchStrategy[float]:
    return st.floats(
        min_value=c.get("ge", c.get("gt")),
        max_value=c.get("le", c.get("lt")),
        exclude_min="gt" in c,
        exclude_max="lt" in c,
        allow_nan=False,
        allow_infinity=False,
    )


def for_annotation(tp: Any, c: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values of type `tp` under the field constraints `c`."""
    c = c or {}
    origin = get_origin(tp)
    if origin is Annotated:
        base, *metadata = get_args(tp)
        return for_annotation(base, {**_constraints(metadata), **c})
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        others = [a for a in args if a is not type(None)]
        branches = [for_annotation(a, c) for a in others]
        if len(others) < len(args):
            branches.insert(0, st.none())
        return st.one_of(branches)
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if origin is list:
        (item,) = get_args(tp)
        high = min(int(c.get("max_length", MAX_ITEMS)), MAX_ITEMS)
        return st.lists(for_annotation(item), min_size=int(c.get("min_length", 0)), max_size=high)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return for_model(tp)
    if tp is str:
        return _text(c)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _int(c)
    if tp is float:
        return _float(c)
    if tp is datetime:
        return st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=_ZONES)
    raise NotImplementedError(f"no strategy for {tp!r}: teach tests/conformance/strategies.py")


def for_model(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    """Valid instances of `model`, every field filled."""
    fields = {
        name: for_annotation(info.annotation, _constraints(info.metadata))
        for name, info in model.model_fields.items()
    }
    return st.fixed_dictionaries(fields).map(model.model_validate)


# -- fixed samples -------------------------------------------------------------
T0 = datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)

_LAST_SEEN = Location(
    latitude=30.66,
    longitude=104.06,
    description="示例县 bus station / Sampleville bus station",
    admin_code="990101",
)
_ISSUED = AlertIssued(
    case_id="CASE-0001",
    issuing_unit="Sampleville County Police",
    chief_officer=ResponsibleOfficer(officer_id="OFF-7", name="Chief Li", unit="Station 3"),
    child=ChildDescription(name="小明 Xiao Ming", sex="male", age_years=6, height_cm=115),
    last_seen=_LAST_SEEN,
    last_seen_at=T0,
    target_types=["police", "transport"],
    public_summary="Boy, 6, red jacket, last seen at the bus station.",
    details="Left with an unknown adult.",
)


_OFFICER = ResponsibleOfficer(
    officer_id="OFF-9", name="Officer Example", unit="Sampleville Station 3", phone="000-0000"
)
_RESCUE = RescueNotified(
    case_id="CASE-0001",
    rescue_id="RSC-1",
    rescuing_unit="Sampleville County Police",
    officer=_OFFICER,
    person=RescuedPerson(
        name="Test Child 7",
        sex="female",
        age_years=9,
        age_estimated=True,
        guardians_known=False,
        identity_known=False,
        disabilities=["hearing"],
        household_registration=HouseholdRegistration.UNKNOWN,
        has_means=False,
        languages=["zh", "yi"],
    ),
    rescued_at=T0,
    location=_LAST_SEEN,
    closes_alert=True,
    dna=DnaSample(
        sample_id="DNA-TEST-1",
        collected_at=T0,
        laboratory="Fictional Forensic Lab",
        profile="FAKE-PROFILE-0000",
    ),
    notes="Found at the fictional bus station.",
)
_REFERRAL = {"case_id": "CASE-0001", "referral_id": "REF-1"}

_MOTHER = PersonIdentity(id_type="resident_id", id_number="TEST-ID-0007", name="Test Mother 7")
_BABY = Baby(baby_id="BABY-1", sex="female", weight_g=3200)
_CHECKED = IdentityCheck(document_match=True, face_match=True)

_AUDIT = AuditEntry(
    case_id="CASE-0001",
    entry_id="AUD-1",
    at=T0,
    service="intake",
    action="alert.issue",
    outcome="accepted",
    principal="svc-test-police",
    agency_id="POL-0001",
    case="CASE-0001",
    status=202,
    detail=[AuditDetail(name="topic", value="alerts.events.v1")],
)


def samples() -> dict[str, Event]:
    """One valid instance of every event type, by Avro full name."""
    events: list[Event] = [
        _ISSUED,
        AlertUpdated(case_id="CASE-0001", new_information="Seen boarding bus 12"),
        SightingReported(
            case_id="CASE-0001",
            sighting_id="S-1",
            location=_LAST_SEEN,
            seen_at=T0,
            reporter_kind="public",
            description="A boy in a red jacket",
        ),
        RadiusExpanded(
            case_id="CASE-0001", previous_radius_km=100, radius_km=200, hours_since_last_seen=6.5
        ),
        AlertCancelled(case_id="CASE-0001", reason=CancelReason.FOUND, note="Home safe"),
        AlertDelivery(
            case_id="CASE-0001",
            delivery_id="DLV-1",
            agency_id="TRN-0012",
            agency_type="transport",
            ring_km=100,
            distance_km=12.5,
            accepted_at=T0,
            source_event_id="3f1c",
            event=_ISSUED,
        ),
        AgencyAcknowledgement(case_id="CASE-0001", delivery_id="DLV-1", agency_id="TRN-0012"),
        DeliveryEscalated(
            case_id="CASE-0001",
            delivery_id="DLV-1",
            agency_id="TRN-0012",
            agency_type="transport",
            attempts=3,
            first_sent_at=T0,
        ),
        PublicNotice(
            case_id="CASE-0001",
            status="active",
            summary=_ISSUED.public_summary,
            child_name=_ISSUED.child.name,
            sex=_ISSUED.child.sex,
            age_years=_ISSUED.child.age_years,
            height_cm=_ISSUED.child.height_cm,
            clothing="Red jacket",
            last_seen_area=_LAST_SEEN.description,
            last_seen_at=T0,
            contact=_ISSUED.issuing_unit,
        ),
        _RESCUE,
        ReferralRequested(
            **_REFERRAL,
            rule_id="health_check",
            service="Health check, treatment and infectious-disease screening",
            agency_id="HLT-0003",
            agency_type="health",
            requested_at=T0,
            answer_due=T0 + timedelta(hours=4),
            complete_due=T0 + timedelta(days=2),
            victim=VictimProfile(
                name="Test Child 7",
                sex="female",
                age_years=9,
                is_child=True,
                guardians_known=False,
                disabilities=["hearing"],
                languages=["zh"],
                location=_LAST_SEEN,
                rescued_at=T0,
                police_contact=_OFFICER,
            ),
            cites="Ninghe 二(二)5",
        ),
        ReferralAnswered(
            **_REFERRAL,
            agency_id="HLT-0003",
            status=TaskStatus.COMPLETED,
            outcome=Outcome.SERVICE_PROVIDED,
            note="Checked and treated.",
        ),
        ReferralStatusChanged(
            **_REFERRAL,
            rule_id="health_check",
            agency_id="HLT-0003",
            agency_type="health",
            offer=1,
            previous_status=TaskStatus.IN_PROGRESS,
            status=TaskStatus.COMPLETED,
            outcome=Outcome.SERVICE_PROVIDED,
            changed_at=T0,
            answer_event_id="evt-answer-1",
        ),
        ReferralAnswerRefused(
            **_REFERRAL,
            agency_id="HLT-0003",
            status="completed",
            current_status=TaskStatus.REQUESTED,
            reason="cannot go from requested to completed",
            answer_event_id="evt-answer-2",
        ),
        ReferralOverdue(
            **_REFERRAL,
            rule_id="health_check",
            service="Health check, treatment and infectious-disease screening",
            agency_id="HLT-0003",
            agency_type="health",
            offer=2,
            status=TaskStatus.ACCEPTED,
            phase="completion",
            due_at=T0 + timedelta(days=2),
        ),
        ReferralEscalated(
            **_REFERRAL,
            rule_id="welfare_placement",
            service="Placement in a child-welfare institution",
            agency_type="civil_affairs",
            offers=2,
            last_reason=RejectionReason.NO_CAPACITY,
        ),
        DnaComparisonRecorded(
            case_id="CASE-0001",
            sample_id="DNA-TEST-1",
            database="Fictional national database",
            result="no_match",
            compared_at=T0,
        ),
        ClockTick(case_id="CASE-0001", now=T0),
        MandatoryReportFiled(
            case_id="RPT-0001",
            sector=Sector.HOTEL,
            reporter=Reporter(
                name="Test Reporter 3", organisation="Fictional Hotel", role="Night manager"
            ),
            observed="An adult checking in with a child who seemed frightened.",
            location=_LAST_SEEN,
            observed_at=T0,
            person=PersonAtRisk(description="Girl, about 12", sex="female", apparent_age_years=12),
        ),
        ReportAcknowledged(
            case_id="RPT-0001", police_unit="Sampleville Station 3", agency_id="POL-0001"
        ),
        ReportOverdue(
            case_id="RPT-0001",
            sector=Sector.HOTEL,
            filed_at=T0,
            due_at=T0 + timedelta(hours=1),
            area="Sampleville",
        ),
        TipReceived(
            case_id="CASE-0001",
            tip_id="TIP-0001",
            received_at=T0 + timedelta(hours=2),
            seen_at=T0 + timedelta(hours=1),
            place="Sampleville coach station (fictional)",
            latitude=30.2,
            longitude=104.3,
            description="A girl in a red coat with an adult, boarding the 14:00 coach.",
            contact="+86 000 0000 0000 (fake)",
            channel="form",
            officer=_OFFICER,
            agency_id="POL-0001",
        ),
        TipAcknowledged(
            case_id="CASE-0001",
            tip_id="TIP-0001",
            agency_id="POL-0001",
            verdict=TipVerdict.VALID,
            code="LEAD_CONFIRMED",
        ),
        TipOverdue(
            case_id="CASE-0001",
            tip_id="TIP-0001",
            agency_id="POL-0001",
            officer_id="OFF-7",
            received_at=T0,
            due_at=T0 + timedelta(minutes=30),
        ),
        CaseOutcomeRecorded(
            case_id="CASE-0001",
            stage="judgement",
            authority_id="CRT-0001",
            authority_type="court",
            decided_at=T0 + timedelta(days=200),
            reference="(2027) TEST-XING-CHU 0001",
            result="convicted",
        ),
        AdmissionRegistered(
            case_id="ADM-1",
            hospital_id="HOSP-0001",
            patient=_MOTHER,
            admitted_at=T0,
            purpose="delivery",
            identity_check=_CHECKED,
        ),
        DeliveryRecorded(
            case_id="DEL-1",
            hospital_id="HOSP-0001",
            mother=_MOTHER,
            admission_id="ADM-1",
            delivered_at=T0 + timedelta(hours=5),
            baby=_BABY,
            identity_check=IdentityCheck(document_match=True),
        ),
        BirthCertificateIssued(
            case_id="CERT-0001",
            hospital_id="HOSP-0001",
            mother=_MOTHER,
            baby=_BABY,
            delivery_id="DEL-1",
            issued_at=T0 + timedelta(days=1),
        ),
        DischargeRecorded(
            case_id="DIS-1",
            hospital_id="HOSP-0001",
            patient=_MOTHER,
            admission_id="ADM-1",
            delivery_id="DEL-1",
            discharged_at=T0 + timedelta(days=2),
        ),
        HealthAnomalyDetected(
            case_id="ANOM-1",
            rule=AnomalyRule.CERTIFICATE_WITHOUT_DELIVERY,
            severity=Severity.CRITICAL,
            hospital_id="HOSP-0001",
            subject_id_number="TEST-ID-0007",
            evidence=["evt-certificate-1"],
            detected_at=T0 + timedelta(days=1, hours=6),
            summary="Certificate CERT-0001 cites no delivery of this mother at this hospital.",
        ),
        _AUDIT,
        AuditChained(
            case_id="CASE-0001",
            partition=0,
            seq=0,
            prev_hash="0" * 64,
            hash="a" * 64,
            entry=_AUDIT,
        ),
        AuditCheckpoint(
            case_id="checkpoint:0",
            partition=0,
            seq=0,
            hash="a" * 64,
            at=T0,
            key_id="0123456789abcdef",
            signature="b" * 128,
        ),
        WebhookReceipt(
            case_id="CASE-0001",
            delivery_id="d-0001",
            agency_id="EDU-0001",
            kind="alert",
            outcome="dead_lettered",
            attempts=6,
            latency_ms=31_250,
            last_status=503,
            reason="HTTP 503",
        ),
    ]
    return {e.avro_name: e for e in events}
