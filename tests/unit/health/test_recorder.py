"""HealthRecorder without a broker: keying by the person's id number, clear
errors naming the field, and nothing sent when a record (or any record of a
batch) is bad. The producer is an in-memory stand-in; the codec is real."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from homeward.actors import agency_actor
from homeward.codec import Codec
from homeward.events import AdmissionRegistered, DeliveryRecorded, PersonIdentity
from homeward.topology import Topology
from homeward_health import HealthRecorder, RecordRejected, RecordUnavailable, key_of
from homeward_health.synthetic import DEMO_HOSPITALS, birth, certificate

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
codec = Codec()


@dataclass
class Sent:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Meta:
    def __init__(self, offset: int) -> None:
        self.partition, self.offset = 0, offset


class Future:
    def __init__(self, result: Any) -> None:
        self.result = result

    def get(self, timeout: float | None = None) -> Any:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class MemoryProducer:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.fail: Exception | None = None

    def send(
        self, topic: str, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Any:
        if self.fail is not None:
            return Future(self.fail)
        self.sent.append(Sent(topic, key, value, headers))
        return Future(Meta(len(self.sent) - 1))

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture
def producer() -> MemoryProducer:
    return MemoryProducer()


@pytest.fixture
def recorder(producer: MemoryProducer) -> HealthRecorder:
    return HealthRecorder(topology=Topology.load(prefix="unit."), producer=producer)


def test_each_record_is_keyed_by_the_person_it_is_about(
    recorder: HealthRecorder, producer: MemoryProducer
) -> None:
    records = birth("K1", DEMO_HOSPITALS[0], START)
    done = recorder.record_many(records)
    assert [s.key for s in producer.sent] == [b"ID-K1"] * 4
    assert {s.topic for s in producer.sent} == {"unit.health.records.v1"}
    assert [d.type.rsplit(".", 1)[1] for d in done] == [
        "AdmissionRegistered",
        "DeliveryRecorded",
        "BirthCertificateIssued",
        "DischargeRecorded",
    ]
    decoded = [codec.decode(s.value, s.headers) for s in producer.sent]
    # Each as given, with the actor of the hospital it is recorded for.
    hospital = agency_actor(DEMO_HOSPITALS[0].id, "health")
    assert [d.event for d in decoded] == [r.model_copy(update={"actor": hospital}) for r in records]
    assert {d.meta.source for d in decoded} == {"/homeward/health/HOSP-DEMO-1"}
    assert {d.meta.classification.value for d in decoded} == {"restricted"}
    assert [d.meta.id for d in decoded] == [d.event_id for d in done]


def test_a_certificate_is_keyed_by_its_mother_not_its_number(recorder: HealthRecorder) -> None:
    cert = certificate("K2", DEMO_HOSPITALS[1], START, number="CERT-ELSEWHERE")
    assert key_of(cert) == "ID-K2"
    assert recorder.record(cert).key == "ID-K2"


def test_a_dict_naming_its_type_is_accepted(
    recorder: HealthRecorder, producer: MemoryProducer
) -> None:
    adm = birth("K3", DEMO_HOSPITALS[0], START)[0]
    done = recorder.record({"type": "AdmissionRegistered", **adm.model_dump()})
    assert done.key == "ID-K3" and len(producer.sent) == 1


def test_the_same_record_twice_has_one_event_id_a_different_one_another(
    recorder: HealthRecorder,
) -> None:
    cert = certificate("K4", DEMO_HOSPITALS[0], START)
    reused = certificate("K5", DEMO_HOSPITALS[0], START, number=cert.case_id)
    ids = [recorder.record(r).event_id for r in (cert, cert, reused)]
    assert ids[0] == ids[1] != ids[2]


def _admission(**change: Any) -> dict[str, Any]:
    body = birth("K6", DEMO_HOSPITALS[0], START)[0].model_dump()
    body["type"] = "AdmissionRegistered"
    for path, value in change.items():
        *parents, last = path.split("__")
        node = body
        for p in parents:
            node = node[p]
        node[last] = value
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"patient__id_number": "has space"}, "patient.id_number"),
        ({"patient__id_number": ""}, "patient.id_number"),
        ({"admitted_at": datetime(2026, 3, 1, 8, 0)}, "admitted_at"),
        ({"identity_check__document_match": "maybe"}, "identity_check.document_match"),
        ({"purpose": "holiday"}, "purpose"),
        ({"hospital_id": ""}, "hospital_id"),
        ({"type": "PizzaOrdered"}, "type"),
        ({"ward": "B"}, "ward"),
    ],
)
def test_a_bad_record_names_the_field_and_nothing_is_sent(
    recorder: HealthRecorder, producer: MemoryProducer, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(RecordRejected) as err:
        recorder.record(_admission(**change))
    assert err.value.field == field
    assert err.value.reason
    assert str(err.value).startswith(f"{field}: ")
    assert producer.sent == []


def test_a_model_built_without_validation_is_still_refused(
    recorder: HealthRecorder, producer: MemoryProducer
) -> None:
    good = birth("K7", DEMO_HOSPITALS[0], START)[1]
    who = PersonIdentity.model_construct(id_type="passport", id_number="bad id", name="X")
    bad = DeliveryRecorded.model_construct(**{**dict(good), "mother": who})
    with pytest.raises(RecordRejected) as err:
        recorder.record(bad)
    assert err.value.field == "mother.id_number"
    assert producer.sent == []


def test_something_that_is_no_health_record_is_refused(recorder: HealthRecorder) -> None:
    with pytest.raises(RecordRejected) as err:
        recorder.record(object())  # type: ignore[arg-type]
    assert err.value.field == "type"


def test_one_bad_record_in_a_batch_sends_none(
    recorder: HealthRecorder, producer: MemoryProducer
) -> None:
    records: list[Any] = birth("K8", DEMO_HOSPITALS[0], START)
    records.insert(2, _admission(patient__name=""))
    with pytest.raises(RecordRejected) as err:
        recorder.record_many(records)
    assert (err.value.index, err.value.field) == (2, "patient.name")
    assert str(err.value).startswith("record 2: patient.name: ")
    assert producer.sent == []


def test_no_acknowledgement_is_a_typed_error(
    recorder: HealthRecorder, producer: MemoryProducer
) -> None:
    producer.fail = TimeoutError("no ack")
    with pytest.raises(RecordUnavailable, match="did not acknowledge"):
        recorder.record(birth("K9", DEMO_HOSPITALS[0], START)[0])


def test_admission_model_round_trips_through_parse() -> None:
    adm = birth("K10", DEMO_HOSPITALS[0], START)[0]
    assert isinstance(adm, AdmissionRegistered)
    assert key_of(adm) == adm.patient.id_number


def test_a_recorder_for_one_hospital_refuses_another_hospitals_record(
    producer: MemoryProducer,
) -> None:
    one = HealthRecorder(
        topology=Topology.load(prefix="unit."),
        producer=producer,
        hospital_id=DEMO_HOSPITALS[0].id,
        principal="hosp-demo-1-records",
    )
    with pytest.raises(RecordRejected) as caught:
        one.record(certificate("K3", DEMO_HOSPITALS[1], START))
    assert caught.value.field == "hospital_id" and producer.sent == []
    done = one.record(certificate("K3", DEMO_HOSPITALS[0], START))
    event = codec.decode(producer.sent[0].value, producer.sent[0].headers).event
    assert event.actor == agency_actor(DEMO_HOSPITALS[0].id, "health", "hosp-demo-1-records")
    # The event id is the content's, whoever sends it: a copy stays one event.
    plain = HealthRecorder(topology=Topology.load(prefix="unit."), producer=MemoryProducer())
    assert plain.record(certificate("K3", DEMO_HOSPITALS[0], START)).event_id == done.event_id
