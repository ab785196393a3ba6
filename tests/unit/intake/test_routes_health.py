"""Hospital records over in-memory adapters: each route publishes its event to
health.records.v1 keyed by the person's id number (not the record's id),
refuses a bad body naming the field with nothing published, and replays a
retry with the same Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.codec import Codec
from homeward.events import Event
from homeward_health.synthetic import DEMO_HOSPITALS, birth, certificate
from homeward_intake.client import IntakeClient, IntakeError
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.routing import key_for
from tests.unit.intake import samples
from tests.unit.intake.test_routes import assert_error_shape, fields_of

codec = Codec()
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TOPIC = "test.health.records.v1"
ADMISSION, DELIVERY, CERTIFICATE, DISCHARGE = birth("H1", DEMO_HOSPITALS[0], START)
ROUTES = [
    ("admissions", ADMISSION),
    ("deliveries", DELIVERY),
    ("birth-certificates", CERTIFICATE),
    ("discharges", DISCHARGE),
]


def body(event: Event) -> dict[str, Any]:
    dumped: dict[str, Any] = event.model_dump(mode="json")
    return dumped


@pytest.mark.parametrize(("path", "event"), ROUTES)
def test_each_record_goes_to_health_records_keyed_by_the_person(
    http: TestClient, publisher: MemoryPublisher, path: str, event: Event
) -> None:
    resp = http.post(f"/v1/health/{path}", json=body(event))
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["topic"] == TOPIC
    assert answer["case_id"] == event.case_id
    assert answer["type"] == event.ce_type()
    [(topic, record)] = publisher.sent
    assert topic == TOPIC
    assert record.key == b"ID-H1"  # the mother's id number, never the record's id
    decoded = codec.decode(record.value, record.headers)
    assert samples.bare(decoded.event) == event
    assert decoded.meta.subject == event.case_id
    assert decoded.meta.classification.value == "restricted"


def test_a_certificate_is_keyed_by_its_mother_whatever_delivery_it_cites(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    cert = certificate("H2", DEMO_HOSPITALS[1], START, delivery_id="DEL-SOMEONE-ELSE")
    assert http.post("/v1/health/birth-certificates", json=body(cert)).status_code == 202
    assert publisher.sent[0][1].key == b"ID-H2" == key_for(cert).encode()


def test_other_events_keep_their_case_id_as_key() -> None:
    from homeward.events import ReportAcknowledged

    ack = ReportAcknowledged(case_id="RPT-1", police_unit="Test Unit 1", agency_id="POL-1")
    assert key_for(ack) == "RPT-1"


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[p]
    if value is KeyError:
        node.pop(last)
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "event", "field", "value"),
    [
        ("admissions", ADMISSION, "patient.id_number", "has a space"),
        ("admissions", ADMISSION, "identity_check", KeyError),
        ("admissions", ADMISSION, "admitted_at", "2026-03-01T08:00:00"),
        ("admissions", ADMISSION, "purpose", "holiday"),
        ("deliveries", DELIVERY, "mother.name", ""),
        ("deliveries", DELIVERY, "baby.weight_g", 12),
        ("deliveries", DELIVERY, "identity_check.face_match", "perhaps"),
        ("birth-certificates", CERTIFICATE, "delivery_id", KeyError),
        ("birth-certificates", CERTIFICATE, "case_id", "no spaces allowed"),
        ("birth-certificates", CERTIFICATE, "baby.sex", "dragon"),
        ("discharges", DISCHARGE, "patient.id_type", "library_card"),
        ("discharges", DISCHARGE, "discharged_at", "yesterday"),
        ("discharges", DISCHARGE, "ward", "B"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field_and_nothing_is_published(
    http: TestClient, publisher: MemoryPublisher, path: str, event: Event, field: str, value: Any
) -> None:
    resp = http.post(f"/v1/health/{path}", json=_set(body(event), field, value))
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert publisher.sent == []


def test_a_retry_with_the_same_key_publishes_once(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    key = {"Idempotency-Key": "k-delivery-1"}
    first = http.post("/v1/health/deliveries", json=body(DELIVERY), headers=key)
    again = http.post("/v1/health/deliveries", json=body(DELIVERY), headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(publisher.events("health_records")) == 1
    changed = _set(body(DELIVERY), "baby.weight_g", 2900)
    conflict = http.post("/v1/health/deliveries", json=changed, headers=key)
    assert_error_shape(conflict, 409, "idempotency_conflict")
    assert len(publisher.events("health_records")) == 1


def test_the_client_sends_each_record_to_its_route(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    client = IntakeClient("http://testserver", http=http)
    answers = [
        client.record_admission(ADMISSION),
        client.record_delivery(DELIVERY),
        client.issue_birth_certificate(CERTIFICATE),
        client.record_discharge(DISCHARGE),
        client.record_health(kind="admissions", **body(birth("H3", DEMO_HOSPITALS[1], START)[0])),
    ]
    assert [a.topic for a in answers] == [TOPIC] * 5
    assert [r.key for _, r in publisher.sent] == [b"ID-H1"] * 4 + [b"ID-H3"]
    bad = _set(body(ADMISSION), "patient.name", "")
    with pytest.raises(IntakeError) as err:
        client.record_health(kind="admissions", **bad)
    assert err.value.status == 422 and "patient.name" in err.value.fields
    with pytest.raises(ValueError, match="kind"):
        client.record_health(kind="parking", **bad)
