"""Plainly fake inbox records for the gateway's unit tests, built as the
fan-out and router write them (encoded, then decoded by the SDK's decoder)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from homeward.codec import Codec
from homeward.events import HealthAnomalyDetected
from homeward.events.base import Event
from homeward.events.health import AnomalyRule, Severity
from homeward_agency.delivery import Delivery, decode_delivery
from tests.unit.agency import samples as s

CODEC = Codec()
_offsets = itertools.count()


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None


def record(event: Event, agency_id: str, topic: str = "inbox.health.v1") -> Rec:
    rec, _ = CODEC.encode(event, key=agency_id, source="urn:test", event_id=str(uuid.uuid4()))
    return Rec(topic, 0, next(_offsets), 1_900_000_000_000, rec.key, rec.value, list(rec.headers))


def delivered(event: Event, agency_id: str, topic: str = "inbox.health.v1") -> Delivery:
    return decode_delivery(CODEC, record(event, agency_id, topic), recipient=agency_id)


def alert(agency_id: str, delivery_id: str, inner: Event | None = None) -> Delivery:
    return delivered(
        s.delivery(agency_id, delivery_id, agency_type="health", event=inner), agency_id
    )


def referral(agency_id: str, referral_id: str, offer: int = 1) -> Delivery:
    return delivered(s.referral(agency_id, referral_id, offer=offer), agency_id)


def anomaly(
    anomaly_id: str = "ANOM-TEST-1", hospital_id: str = "HOSP-TEST-1"
) -> HealthAnomalyDetected:
    """A health-record anomaly as the detector raises it (plainly fake)."""
    return HealthAnomalyDetected(
        case_id=anomaly_id,
        rule=AnomalyRule.CERTIFICATE_WITHOUT_DELIVERY,
        severity=Severity.CRITICAL,
        hospital_id=hospital_id,
        subject_id_number="TEST-ID-0007",
        evidence=["evt-certificate-test-1", "evt-admission-test-1"],
        detected_at=datetime(2030, 1, 2, 6, 0, tzinfo=UTC),
        summary="Certificate CERT-TEST-1 cites no delivery of this mother at this hospital.",
    )
