"""What both keyed views of the detector share: the windows, an anomaly found,
the outcome of one input, and how a record is keyed. Pure: no Kafka, no clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeward.events import (
    AdmissionRegistered,
    AnomalyRule,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
    Event,
    HealthAnomalyDetected,
    Severity,
)
from homeward_detector.state import IndexState, PersonState, anomaly_id

R = AnomalyRule


@dataclass(frozen=True)
class Windows:
    certificate: timedelta = timedelta(days=30)
    lateness: timedelta = timedelta(hours=6)
    overlap_tolerance: timedelta = timedelta(0)
    max_stay: timedelta = timedelta(days=90)
    number: timedelta = timedelta(days=90)
    uncertified_enabled: bool = False
    uncertified_after: timedelta = timedelta(days=3)

    def ms(self, name: str) -> int:
        value: timedelta = getattr(self, name)
        return int(value.total_seconds() * 1000)


@dataclass(frozen=True)
class Anomaly:
    rule: AnomalyRule
    severity: Severity
    hospital_id: str
    subject: str
    evidence: tuple[str, ...]
    detected_at: datetime
    summary: str

    @property
    def id(self) -> str:
        return anomaly_id(self.rule.value, list(self.evidence))

    def event(self) -> HealthAnomalyDetected:
        return HealthAnomalyDetected(
            case_id=self.id,
            rule=self.rule,
            severity=self.severity,
            hospital_id=self.hospital_id,
            subject_id_number=self.subject,
            evidence=sorted(self.evidence),
            detected_at=self.detected_at,
            summary=self.summary,
        )


@dataclass
class Outcome:
    """state None with changed: delete the key (every window has closed)."""

    state: PersonState | IndexState | None
    changed: bool = True
    anomalies: list[Anomaly] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)  # index keys to re-key the record to
    note: str = ""


def subject_of(event: Event) -> str:
    """The person a health record is keyed by: the patient, or the mother."""
    if isinstance(event, AdmissionRegistered | DischargeRecorded):
        return event.patient.id_number
    if isinstance(event, DeliveryRecorded | BirthCertificateIssued):
        return event.mother.id_number
    raise TypeError(f"{event.avro_name} is not a health record")


def index_keys(event: Event) -> list[str]:
    """Where the person view forwards a record on health.index.v1."""
    if isinstance(event, DeliveryRecorded):
        return [f"delivery:{event.case_id}"]
    if isinstance(event, BirthCertificateIssued):
        return [f"delivery:{event.delivery_id}", f"certificate:{event.case_id}"]
    if isinstance(event, DischargeRecorded) and event.delivery_id:
        return [f"delivery:{event.delivery_id}"]
    return []


def keep_new(
    state: PersonState | IndexState,
    found: list[Anomaly],
    forget_at: Callable[[Anomaly], int],
    forward: list[str] | None = None,
) -> Outcome:
    """Only anomalies not raised before come out; the new ones are remembered
    until forget_at, so a duplicate or a later tick does not raise them again."""
    out = Outcome(state, forward=forward or [])
    for a in found:
        if a.id not in state.raised:
            state.raised[a.id] = forget_at(a)
            out.anomalies.append(a)
    return out
