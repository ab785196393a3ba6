"""Synthetic hospital streams for the demo, the benchmark and tests: consistent
births and a few planted anomalies, every name and id plainly fake.

A birth is four records of one mother at one hospital, in the order a
hospital sends them: admission (identity check passed), delivery, birth
certificate citing the delivery, discharge of mother and newborn. A planted
anomaly is a short list of records that breaks exactly one rule of the
detector, and names that rule and the records that prove it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeward.events import (
    AdmissionRegistered,
    AnomalyRule,
    Baby,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
    IdentityCheck,
    PersonIdentity,
)
from homeward_health.recorder import HealthRecord

PASSED = IdentityCheck(document_match=True, face_match=True)
FACE_FAILED = IdentityCheck(document_match=True, face_match=False)

# Offsets from a birth's start: admitted, delivered, certified, discharged.
DELIVERED_AFTER = timedelta(hours=5)
CERTIFIED_AFTER = timedelta(hours=7)
DISCHARGED_AFTER = timedelta(hours=9)


@dataclass(frozen=True)
class Hospital:
    id: str
    name: str


DEMO_HOSPITALS = (
    Hospital("HOSP-DEMO-1", "Sampleville Maternity (fictional)"),
    Hospital("HOSP-DEMO-2", "Testtown General Hospital (fictional)"),
)


@dataclass(frozen=True)
class Planted:
    """Records that break one rule; `proof` are those the anomaly must cite."""

    name: str
    rule: AnomalyRule
    records: list[HealthRecord]
    proof: list[HealthRecord] = field(default_factory=list)


def mother(tag: str) -> PersonIdentity:
    return PersonIdentity(id_type="resident_id", id_number=f"ID-{tag}", name=f"Test Mother {tag}")


def admission(
    tag: str,
    hospital: Hospital,
    at: datetime,
    *,
    who: PersonIdentity | None = None,
    check: IdentityCheck = PASSED,
) -> AdmissionRegistered:
    return AdmissionRegistered(
        case_id=f"ADM-{tag}-{hospital.id}",
        hospital_id=hospital.id,
        patient=who or mother(tag),
        admitted_at=at,
        purpose="delivery",
        identity_check=check,
    )


def delivery(
    tag: str,
    hospital: Hospital,
    at: datetime,
    *,
    who: PersonIdentity | None = None,
    check: IdentityCheck = PASSED,
) -> DeliveryRecorded:
    return DeliveryRecorded(
        case_id=f"DEL-{tag}",
        hospital_id=hospital.id,
        mother=who or mother(tag),
        admission_id=f"ADM-{tag}-{hospital.id}",
        delivered_at=at,
        baby=Baby(
            baby_id=f"BABY-{tag}", sex="female" if tag[-1] in "02468" else "male", weight_g=3200
        ),
        identity_check=check,
    )


def certificate(
    tag: str,
    hospital: Hospital,
    at: datetime,
    *,
    number: str | None = None,
    who: PersonIdentity | None = None,
    delivery_id: str | None = None,
) -> BirthCertificateIssued:
    return BirthCertificateIssued(
        case_id=number or f"CERT-{tag}",
        hospital_id=hospital.id,
        mother=who or mother(tag),
        baby=Baby(baby_id=f"BABY-{tag}", sex="unknown"),
        delivery_id=delivery_id or f"DEL-{tag}",
        issued_at=at,
    )


def discharge(tag: str, hospital: Hospital, at: datetime) -> DischargeRecorded:
    return DischargeRecorded(
        case_id=f"DIS-{tag}",
        hospital_id=hospital.id,
        patient=mother(tag),
        admission_id=f"ADM-{tag}-{hospital.id}",
        delivery_id=f"DEL-{tag}",  # mother and newborn leave together
        discharged_at=at,
    )


def birth(tag: str, hospital: Hospital, start: datetime) -> list[HealthRecord]:
    """One consistent birth: nothing in it may raise an anomaly."""
    return [
        admission(tag, hospital, start),
        delivery(tag, hospital, start + DELIVERED_AFTER),
        certificate(tag, hospital, start + CERTIFIED_AFTER),
        discharge(tag, hospital, start + DISCHARGED_AFTER),
    ]


def planted(
    kind: str, tag: str, hospitals: tuple[Hospital, Hospital], start: datetime, reused_number: str
) -> Planted:
    """One planted anomaly of `kind` (see KINDS); `reused_number` is the number of
    a certificate issued earlier in the stream, for the reuse."""
    one, two = hospitals
    recs: list[HealthRecord]
    if kind == "certificate_without_delivery":
        # Admitted and certified, but no delivery was ever recorded.
        cert = certificate(tag, one, start + CERTIFIED_AFTER)
        return Planted(
            kind,
            AnomalyRule.CERTIFICATE_WITHOUT_DELIVERY,
            [admission(tag, one, start), cert],
            [cert],
        )
    if kind == "certificate_mother_mismatch":
        # Another mother's delivery, certified under this mother's name.
        other = f"{tag}X"
        cert = certificate(tag, one, start + CERTIFIED_AFTER, delivery_id=f"DEL-{other}")
        recs = [
            admission(other, one, start),
            delivery(other, one, start + DELIVERED_AFTER),
            discharge(other, one, start + DISCHARGED_AFTER),
            cert,
        ]
        return Planted(kind, AnomalyRule.CERTIFICATE_MOTHER_MISMATCH, recs, [cert])
    if kind == "certificate_number_reused":
        recs = birth(tag, one, start)
        cert = certificate(tag, one, start + CERTIFIED_AFTER, number=reused_number)
        recs[2] = cert
        return Planted(kind, AnomalyRule.CERTIFICATE_NUMBER_REUSED, recs, [cert])
    if kind == "identity_check_failed":
        recs = birth(tag, one, start)
        recs[1] = delivery(tag, one, start + DELIVERED_AFTER, check=FACE_FAILED)
        return Planted(kind, AnomalyRule.IDENTITY_CHECK_FAILED, recs, [recs[1]])
    if kind == "overlapping_admissions":
        # One identity admitted at both hospitals an hour apart, never discharged.
        first = admission(tag, one, start)
        second = admission(tag, two, start + timedelta(hours=1))
        recs = [first, second]
        return Planted(kind, AnomalyRule.OVERLAPPING_ADMISSIONS, recs, [second])
    raise ValueError(f"unknown planted anomaly {kind!r}")


KINDS = (
    "certificate_without_delivery",
    "certificate_mother_mismatch",
    "certificate_number_reused",
    "identity_check_failed",
    "overlapping_admissions",
)


def stream(
    births: int,
    *,
    start: datetime,
    plant_every: int = 0,
    prefix: str = "S",
    hospitals: tuple[Hospital, Hospital] = DEMO_HOSPITALS,
    spread: timedelta = timedelta(minutes=1),
) -> Iterator[HealthRecord | Planted]:
    """`births` consistent births, alternating hospitals, each starting `spread`
    after the one before, with a planted anomaly (cycling through KINDS) after
    every `plant_every` births (0: none). Yields records and Planted groups."""
    kinds = 0
    for i in range(births):
        tag = f"{prefix}{i:07d}"
        at = start + spread * i
        yield from birth(tag, hospitals[i % 2], at)
        if plant_every and (i + 1) % plant_every == 0:
            kind = KINDS[kinds % len(KINDS)]
            kinds += 1
            yield planted(kind, f"{prefix}P{kinds:06d}", hospitals, at, f"CERT-{tag}")
