"""Birth and hospital records (digest flow 4): models mirroring
schemas/avro/homeward.health.*.avsc. Hospitals publish admissions,
deliveries, birth certificates and discharges keyed by the person's id
number; the detector raises anomalies to police only."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from homeward.events.alerts import Ident, ShortText, Text
from homeward.events.base import Classification, Event, Instant, Model

IdNumber = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]


class PersonIdentity(Model):
    id_type: Literal["resident_id", "passport", "other"]
    id_number: IdNumber
    name: ShortText


class IdentityCheck(Model):
    document_match: bool
    face_match: bool | None = None  # None where face recognition is not rolled out

    @property
    def passed(self) -> bool:
        return self.document_match and self.face_match is not False


class Baby(Model):
    baby_id: Ident
    sex: Literal["female", "male", "unknown"]
    weight_g: int | None = Field(default=None, ge=200, le=8000)


class AdmissionRegistered(Event):
    avro_name: ClassVar[str] = "homeward.health.AdmissionRegistered"

    hospital_id: Ident
    patient: PersonIdentity
    admitted_at: Instant
    purpose: Literal["delivery", "other"] = "other"
    identity_check: IdentityCheck


class DeliveryRecorded(Event):
    avro_name: ClassVar[str] = "homeward.health.DeliveryRecorded"

    hospital_id: Ident
    mother: PersonIdentity
    admission_id: Ident | None = None
    delivered_at: Instant
    baby: Baby
    identity_check: IdentityCheck


class BirthCertificateIssued(Event):
    avro_name: ClassVar[str] = "homeward.health.BirthCertificateIssued"

    hospital_id: Ident
    mother: PersonIdentity
    baby: Baby
    delivery_id: Ident
    issued_at: Instant


class DischargeRecorded(Event):
    avro_name: ClassVar[str] = "homeward.health.DischargeRecorded"

    hospital_id: Ident
    patient: PersonIdentity
    admission_id: Ident | None = None
    delivery_id: Ident | None = None  # set when the newborn of this delivery leaves
    discharged_at: Instant


class AnomalyRule(StrEnum):
    CERTIFICATE_WITHOUT_DELIVERY = "certificate_without_delivery"
    CERTIFICATE_MOTHER_MISMATCH = "certificate_mother_mismatch"
    DELIVERY_CERTIFIED_TWICE = "delivery_certified_twice"
    CERTIFICATE_NUMBER_REUSED = "certificate_number_reused"
    IDENTITY_CHECK_FAILED = "identity_check_failed"
    OVERLAPPING_ADMISSIONS = "overlapping_admissions"
    DELIVERY_WITHOUT_CERTIFICATE = "delivery_without_certificate"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class HealthAnomalyDetected(Event):
    avro_name: ClassVar[str] = "homeward.health.HealthAnomalyDetected"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    rule: AnomalyRule
    severity: Severity
    hospital_id: Ident
    subject_id_number: IdNumber
    evidence: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=32
    )
    detected_at: Instant
    summary: Text


HEALTH_RECORDS = (AdmissionRegistered, DeliveryRecorded, BirthCertificateIssued, DischargeRecorded)
