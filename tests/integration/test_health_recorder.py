"""HealthRecorder on the real broker: records land on health.records.v1 keyed
by the person's id number, on that key's partition, with CloudEvents headers;
a bad record in a batch sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homeward.actors import agency_actor
from homeward.kafka import partition_for
from homeward_health import HealthRecorder, RecordRejected
from homeward_health.synthetic import DEMO_HOSPITALS, birth, planted
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CE_HEADERS = {
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "content-type",
    "ce_correlationid",
    "ce_classification",
}


def test_records_land_keyed_by_the_person_with_cloudevents_headers(bus: Bus) -> None:
    topic = bus.topic("health_records")
    one = birth("IT1", DEMO_HOSPITALS[0], START)
    two = birth("IT2", DEMO_HOSPITALS[1], START)
    # A certificate under another mother's delivery is keyed by its own mother.
    mismatch = planted("certificate_mother_mismatch", "IT3", DEMO_HOSPITALS, START, "")
    with HealthRecorder(bus.settings_for("health"), topology=bus.topology) as recorder:
        done = [recorder.record(r) for r in one]
        done += recorder.record_many([*two, *mismatch.records])
        bad = two[0].model_dump()
        bad["patient"]["id_number"] = "not valid!"
        with pytest.raises(RecordRejected) as err:
            recorder.record_many([one[0], {"type": "AdmissionRegistered", **bad}])
        assert (err.value.index, err.value.field) == (1, "patient.id_number")

    sent = [*one, *two, *mismatch.records]
    principal = bus.settings_for("health").sasl_username
    reader = TopicReader(bus.settings, [topic])
    try:
        reader.until(lambda r: len(r.records) >= len(sent), timeout=30, what="every record")
        # Nothing of the refused batch arrived (its good first record included).
        reader.poll()
        assert len(reader.records) == len(sent)
        by_id = {d.meta.id: d for _, d in reader.decoded}
        assert set(by_id) == {d.event_id for d in done}
        expected_keys = {"ID-IT1", "ID-IT2", "ID-IT3", "ID-IT3X"}
        assert {r[1].decode() for r in reader.records if r[1]} == expected_keys
        for rec, event in zip(done, sent, strict=True):
            decoded = by_id[rec.event_id]
            # As sent, with the actor of the hospital it was recorded for.
            assert decoded.event == event.model_copy(
                # Under its Kafka user's name (the SDK's principal when none is given).
                update={"actor": agency_actor(event.hospital_id, "health", principal)}
            )
            assert decoded.meta.source == f"/homeward/health/{event.hospital_id}"
            assert decoded.meta.subject == event.case_id
            assert rec.partition == partition_for(rec.key.encode(), bus.partitions)
        assert done[sent.index(mismatch.proof[0])].key == "ID-IT3"
        for _, key, _, headers in reader.records:
            names = {h for h, _ in headers}
            assert names >= CE_HEADERS, names
            h = dict(headers)
            assert h["ce_classification"] == b"restricted"
            assert h["content-type"] == b"application/avro"
            assert key is not None
    finally:
        reader.close()
