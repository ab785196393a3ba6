"""The health-record detector on the real broker: the worker is its own process.

One detector serves the module's tests (starting a Faust worker costs more
than the tests themselves); each test works on mothers of its own, so none
sees another's anomalies. Hospitals' records are published to
health.records.v1 keyed by id number, as intake and the SDK do. Time moves
with ClockTick records carrying a chosen `now`, never by waiting; "nothing
raised" is read after a barrier: a record the worker cannot read, sent after
the others on the same key, comes back as a dead letter once they are handled.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from homeward.codec import Codec
from homeward.events import (
    AnomalyRule,
    ClockTick,
    Event,
    HealthAnomalyDetected,
    IdentityCheck,
    PersonIdentity,
    Severity,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward_demo.processes import ServiceProcess
from homeward_detector.planner import subject_of
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader, service
from tests.unit.detector.world import (
    DAY,
    HOSPITAL_B,
    HOUR,
    admission,
    certificate,
    delivery,
    discharge,
    mother,
)

pytestmark = pytest.mark.integration
R = AnomalyRule
PAST_LATENESS = 7 * HOUR  # the worker runs with the default PT6H


@dataclass
class Detector:
    bus: Bus
    reader: TopicReader
    producer: KafkaProducer
    codec: Codec

    def publish(self, event: Event, *, at: datetime | None = None, eid: str | None = None) -> str:
        rec, meta = self.codec.encode(
            event, key=subject_of(event), source="/test/hospital", time=at, event_id=eid
        )
        send_all(self.producer, [(self.bus.topic("health_records"), rec)])
        return meta.id

    def tick(self, key: str, now: datetime) -> None:
        """'Time is now `now`'. Settle the key's records first: the tick's topic is
        not theirs, so the worker may read it first otherwise (in production the
        lateness covers that; a test's tick jumps hours ahead)."""
        rec, _ = self.codec.encode(ClockTick(case_id=key, now=now), key=key, source="/test/clock")
        send_all(self.producer, [(self.bus.topic("health_ticks"), rec)])

    def barrier(self, topic_id: str, key: str) -> None:
        """Wait until the worker has handled everything already on `key`'s partition."""
        token = f"barrier-{uuid.uuid4().hex}".encode()
        self.producer.send(self.bus.topic(topic_id), key=key.encode(), value=token).get(30)
        dlq = self.bus.topic("dead_letters")
        self.reader.until(
            lambda r: any(t == dlq and v == token for t, _, v, _ in r.records), 60, "barrier"
        )
        self.reader.poll()

    def settle(self, person: str, *index_keys: str) -> None:
        """Barriers on the person's key, then on the index keys its records were
        forwarded to (the copies are on the index topic before the first barrier
        comes back)."""
        self.barrier("health_records", person)
        for key in index_keys:
            self.barrier("health_index", key)

    def anomalies(self, subject: str) -> list[HealthAnomalyDetected]:
        topic = self.bus.topic("anomalies")
        return [
            d.event
            for t, d in self.reader.decoded
            if t == topic
            and isinstance(d.event, HealthAnomalyDetected)
            and d.event.subject_id_number == subject
        ]

    def wait_for(self, subject: str, rule: AnomalyRule, timeout: float = 60) -> None:
        self.reader.until(
            lambda _: any(a.rule == rule for a in self.anomalies(subject)), timeout, rule.value
        )


def start_detector(bus: Bus, tmp: Path, **extra: str) -> ServiceProcess:
    env = bus.env(
        "detector",
        HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS="0.5",
        HOMEWARD_DETECTOR_UNCERTIFIED_DISCHARGE_ENABLED="true",
        **extra,
    )
    return service(["-m", "homeward_detector"], env, tmp / "detector.log").start("DETECTOR_READY")


def open_detector(bus: Bus) -> Detector:
    topics = [bus.topic("anomalies"), bus.topic("dead_letters")]
    return Detector(bus, TopicReader(bus.settings, topics), producer(bus.settings), Codec())


@pytest.fixture(scope="module")
def det(bus_factory_module: Any, tmp_path_factory: Any) -> Iterator[Detector]:
    bus: Bus = bus_factory_module()
    svc = start_detector(bus, tmp_path_factory.mktemp("detector"))
    d = open_detector(bus)
    try:
        yield d
        assert svc.running, "the detector died during the tests"
    finally:
        d.producer.close()
        d.reader.close()
        svc.stop()


def someone() -> PersonIdentity:
    return mother(uuid.uuid4().hex[:10])


def ids(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


# -- rule 4a: identity checks -------------------------------------------------


def test_failed_identity_checks_are_raised_at_once(det: Detector) -> None:
    m = someone()
    now = utcnow()
    bad_doc = det.publish(admission(m, ids("ADM"), now, check=IdentityCheck(document_match=False)))
    bad_face = det.publish(
        delivery(m, ids("DEL"), now, check=IdentityCheck(document_match=True, face_match=False))
    )
    det.reader.until(lambda _: len(det.anomalies(m.id_number)) >= 2, 60, "two anomalies")
    by_evidence = {tuple(a.evidence): a for a in det.anomalies(m.id_number)}
    assert by_evidence[(bad_doc,)].severity == Severity.HIGH
    assert by_evidence[(bad_face,)].severity == Severity.CRITICAL
    assert {a.rule for a in by_evidence.values()} == {R.IDENTITY_CHECK_FAILED}


# -- rule 4b: overlapping stays -----------------------------------------------


def test_one_identity_admitted_at_two_hospitals_at_once(det: Detector) -> None:
    m = someone()
    now = utcnow()
    first_id = ids("ADM")
    a = det.publish(admission(m, first_id, now))
    det.publish(discharge(m, ids("DIS"), now + DAY, admission_id=first_id))
    b = det.publish(admission(m, ids("ADM"), now + 12 * HOUR, hospital=HOSPITAL_B))
    det.wait_for(m.id_number, R.OVERLAPPING_ADMISSIONS)
    det.settle(m.id_number)
    (found,) = det.anomalies(m.id_number)
    assert sorted(found.evidence) == sorted([a, b]) and found.hospital_id == HOSPITAL_B


def test_stays_one_after_the_other_raise_nothing(det: Detector) -> None:
    m = someone()
    now = utcnow()
    first_id = ids("ADM")
    # The discharge arrives last (record times are ahead of the wall clock, so
    # the worker's own timer judges nothing): until then the first stay looks open.
    det.publish(admission(m, first_id, now))
    det.publish(admission(m, ids("ADM"), now + 2 * DAY, hospital=HOSPITAL_B))
    det.publish(discharge(m, ids("DIS"), now + DAY, admission_id=first_id))
    det.settle(m.id_number)
    det.tick(m.id_number, now + 2 * DAY + PAST_LATENESS)
    det.barrier("health_ticks", m.id_number)
    assert det.anomalies(m.id_number) == []


# -- rule 1: a certificate with no delivery -----------------------------------


def test_certificate_without_delivery_is_raised_once_lateness_has_passed(det: Detector) -> None:
    m = someone()
    now = utcnow()
    del_id = ids("DEL")
    cert = det.publish(certificate(m, ids("CERT"), del_id, now))
    # Before the lateness has passed nothing is decided.
    det.settle(m.id_number)
    det.tick(m.id_number, now + 5 * HOUR)
    det.barrier("health_ticks", m.id_number)
    assert det.anomalies(m.id_number) == []
    det.tick(m.id_number, now + PAST_LATENESS)
    det.wait_for(m.id_number, R.CERTIFICATE_WITHOUT_DELIVERY)
    (found,) = det.anomalies(m.id_number)
    assert found.evidence == [cert] and found.severity == Severity.CRITICAL


def test_a_certificate_before_its_delivery_raises_nothing(det: Detector) -> None:
    m = someone()
    now = utcnow()
    del_id = ids("DEL")
    # Out of order: the certificate first, the delivery an hour later on the wire.
    det.publish(certificate(m, ids("CERT"), del_id, now))
    det.publish(delivery(m, del_id, now - DAY))
    det.settle(m.id_number, f"delivery:{del_id}")
    det.tick(m.id_number, now + PAST_LATENESS)
    det.tick(f"delivery:{del_id}", now + PAST_LATENESS)
    det.barrier("health_ticks", m.id_number)
    det.barrier("health_ticks", f"delivery:{del_id}")
    assert det.anomalies(m.id_number) == []


# -- rule 2: the certificate's mother is not the delivery's ------------------


def test_certificate_naming_another_mother_than_the_delivery(det: Detector) -> None:
    real, other = someone(), someone()
    now = utcnow()
    del_id = ids("DEL")
    d = det.publish(delivery(real, del_id, now - DAY))
    c = det.publish(certificate(other, ids("CERT"), del_id, now))
    det.wait_for(other.id_number, R.CERTIFICATE_MOTHER_MISMATCH)
    mismatch = [
        a for a in det.anomalies(other.id_number) if a.rule == R.CERTIFICATE_MOTHER_MISMATCH
    ]
    assert len(mismatch) == 1 and sorted(mismatch[0].evidence) == sorted([d, c])


# -- rule 3: two certificates for one delivery; one number twice ---------------


def test_one_delivery_certified_twice(det: Detector) -> None:
    m = someone()
    now = utcnow()
    del_id = ids("DEL")
    det.publish(delivery(m, del_id, now - DAY))
    first = det.publish(certificate(m, ids("CERT"), del_id, now))
    second = det.publish(certificate(m, ids("CERT"), del_id, now + HOUR))
    det.wait_for(m.id_number, R.DELIVERY_CERTIFIED_TWICE)
    (found,) = det.anomalies(m.id_number)
    assert sorted(found.evidence) == sorted([first, second])


def test_one_certificate_number_on_two_certificates(det: Detector) -> None:
    a, b = someone(), someone()
    now = utcnow()
    number, del_a, del_b = ids("CERT"), ids("DEL"), ids("DEL")
    det.publish(delivery(a, del_a, now - DAY))
    det.publish(delivery(b, del_b, now - DAY))
    first = det.publish(certificate(a, number, del_a, now))
    # Issued later, so b's is the reuse, whichever of the two the index view
    # reads first (a's and b's records travel through different partitions).
    second = det.publish(certificate(b, number, del_b, now + HOUR))
    det.wait_for(b.id_number, R.CERTIFICATE_NUMBER_REUSED)
    (found,) = det.anomalies(b.id_number)
    assert sorted(found.evidence) == sorted([first, second])


# -- rule 5: a newborn discharged with no certificate (enabled here) -----------


def test_newborn_discharged_with_no_certificate(det: Detector) -> None:
    m = someone()
    now = utcnow()
    del_id = ids("DEL")
    d = det.publish(delivery(m, del_id, now))
    left = det.publish(discharge(m, ids("DIS"), now + 2 * DAY, delivery_id=del_id))
    key = f"delivery:{del_id}"
    det.settle(m.id_number, key)
    det.tick(key, now + 3 * DAY)  # certificate due, lateness not yet passed
    det.barrier("health_ticks", key)
    assert det.anomalies(m.id_number) == []
    det.tick(key, now + 3 * DAY + PAST_LATENESS)
    det.wait_for(m.id_number, R.DELIVERY_WITHOUT_CERTIFICATE)
    (found,) = det.anomalies(m.id_number)
    assert sorted(found.evidence) == sorted([d, left]) and found.severity == Severity.MEDIUM


# -- duplicates and corrupt records -------------------------------------------


def test_duplicated_input_raises_one_anomaly(det: Detector) -> None:
    m = someone()
    now = utcnow()
    record = admission(m, ids("ADM"), now, check=IdentityCheck(document_match=False))
    first = det.publish(record)
    det.publish(record, eid=first)  # the same event again
    det.publish(record)  # an identical re-send under a new event id
    det.settle(m.id_number)
    det.wait_for(m.id_number, R.IDENTITY_CHECK_FAILED)
    (found,) = det.anomalies(m.id_number)
    assert found.evidence == [first]


def test_a_corrupt_record_is_dead_lettered_and_the_next_handled(det: Detector) -> None:
    m = someone()
    topic = det.bus.topic("health_records")
    det.producer.send(topic, key=m.id_number.encode(), value=b"\xc3\x01corrupt").get(30)
    # Keyed by someone else's id number: refused, not judged under the wrong person.
    misplaced, _ = det.codec.encode(
        admission(m, ids("ADM"), utcnow()), key="TEST-ID-SOMEONE-ELSE", source="/test/hospital"
    )
    send_all(det.producer, [(topic, misplaced)])
    bad = det.publish(admission(m, ids("ADM"), utcnow(), check=IdentityCheck(document_match=False)))
    det.wait_for(m.id_number, R.IDENTITY_CHECK_FAILED)
    assert [a.evidence for a in det.anomalies(m.id_number)] == [[bad]]
    dlq = det.bus.topic("dead_letters")
    letters = [(k, v, dict(h)) for t, k, v, h in det.reader.records if t == dlq]
    corrupt = next(x for x in letters if x[1] == b"\xc3\x01corrupt")
    assert corrupt[0] == m.id_number.encode() and corrupt[2]["dlq_service"] == b"detector"
    wrong_key = next(x for x in letters if x[0] == b"TEST-ID-SOMEONE-ELSE")
    assert wrong_key[2]["dlq_field"] == b"key"


# -- a restart mid-window -----------------------------------------------------


def test_a_worker_killed_mid_window_decides_as_one_that_never_stopped(
    bus: Bus, tmp_path: Path
) -> None:
    svc = start_detector(bus, tmp_path)
    det = open_detector(bus)
    try:
        now = utcnow()
        alone, delivered = someone(), someone()
        del_alone, del_late = ids("DEL"), ids("DEL")
        cert = det.publish(certificate(alone, ids("CERT"), del_alone, now))
        det.publish(certificate(delivered, ids("CERT"), del_late, now))
        det.settle(alone.id_number)
        det.settle(delivered.id_number)
        # Both certificates are in the changelog before the worker dies.
        changelog = TopicReader(bus.settings, [bus.topic("detector_persons_changelog")])
        try:
            wanted = {alone.id_number.encode(), delivered.id_number.encode()}
            changelog.until(
                lambda r: wanted <= {k for _, k, v, _ in r.records if v}, 60, "the state"
            )
        finally:
            changelog.close()
        svc.kill()
        svc.start("DETECTOR_READY")
        # (b) the delivery arriving after the restart clears its certificate;
        det.publish(delivery(delivered, del_late, now - DAY))
        det.settle(delivered.id_number)
        # (a) a tick past lateness raises the other, exactly once.
        for m in (alone, delivered):
            det.tick(m.id_number, now + PAST_LATENESS)
        det.wait_for(alone.id_number, R.CERTIFICATE_WITHOUT_DELIVERY)
        det.barrier("health_ticks", delivered.id_number)
        det.barrier("health_ticks", alone.id_number)
        (found,) = det.anomalies(alone.id_number)
        assert found.evidence == [cert]
        assert det.anomalies(delivered.id_number) == []
        assert svc.running
    finally:
        det.producer.close()
        det.reader.close()
        svc.stop()
