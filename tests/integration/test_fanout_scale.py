"""One alert to 10,000 agencies in range on the real broker: every one gets
it, the case's state is stored (in parts, on the case's changelog partition,
each record far under Kafka's 1 MB), and the worker, restarted, reads it
back and closes the alert for every one of them."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from homeward.agencies import Agency, AgencyType
from homeward.events import AlertCancelled, CancelReason
from homeward.projections import default_projections
from homeward_fanout.store import CaseStore, is_case_key, partition_of
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader
from tests.integration.test_fanout import deliveries, fanout, inboxes, make_alert, publish
from tests.unit.fanout.geo import agency_at

pytestmark = pytest.mark.integration
AGENCIES = 10_000
CASE = "CASE-FO-SCALE"
# Small parts, so that this case's state (a few tens of KB) takes several.
PART_BYTES = 8192


def in_range_agencies() -> list[Agency]:
    """10,000 plainly fake agencies of every type, all within the first ring."""
    types = list(AgencyType)
    return [
        agency_at(i, 1 + i % 95, bearing=(i * 7.3) % 360, type_=types[i % len(types)])
        for i in range(AGENCIES)
    ]


def changelog_records(bus: Bus) -> list[tuple[int, bytes, bytes | None]]:
    """(partition, key, value) of everything on the fan-out's changelog."""
    topic = bus.topic("fanout_cases_changelog")
    consumer = KafkaConsumer(enable_auto_commit=False, **bus.settings.kafka_python())
    try:
        parts = [TopicPartition(topic, p) for p in range(bus.partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        out: list[tuple[int, bytes, bytes | None]] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "the changelog was not read in time"
            for tp, msgs in consumer.poll(timeout_ms=200).items():
                out += [(tp.partition, m.key, m.value) for m in msgs]
        return out
    finally:
        consumer.close()


def test_an_alert_to_10000_agencies_is_delivered_stored_and_read_back_after_a_restart(
    bus: Bus, tmp_path: Path
) -> None:
    agencies = in_range_agencies()
    projections = default_projections()
    receiving = {a.id for a in agencies if projections.allowed("AlertDelivery.event", a.type.value)}
    assert len(receiving) > AGENCIES // 2
    svc = fanout(bus, tmp_path, agencies, HOMEWARD_FANOUT_STATE_PART_BYTES=str(PART_BYTES)).start(
        "FANOUT_READY"
    )
    reader = TopicReader(bus.settings, inboxes(bus))
    try:
        began = time.monotonic()
        (alert_id,) = publish(bus, make_alert(CASE, 0.5))
        reader.until(lambda r: len(deliveries(r, alert_id)) >= len(receiving), 60, "every delivery")
        print(f"{len(receiving)} deliveries in {time.monotonic() - began:.1f} s")
        got = Counter(d.agency_id for d in deliveries(reader, alert_id))
        assert set(got) == receiving and set(got.values()) == {1}

        # The state: stored once its deliveries were written, in parts, every
        # key of the case on the case's partition.
        def stored() -> dict[bytes, bytes]:
            table: dict[bytes, bytes] = {}
            for partition, key, value in changelog_records(bus):
                assert partition == partition_of(key, bus.partitions), key
                assert value is None or len(value) <= PART_BYTES + 200
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            return table

        deadline = time.monotonic() + 30
        while CASE.encode() not in (table := stored()):
            assert time.monotonic() < deadline, "the case's state was not stored"
            time.sleep(0.2)
        assert sum(1 for k in table if not is_case_key(k)) > 1
        state = CaseStore(table).load(CASE.encode())
        assert state is not None
        assert set(state.recipients) == set(state.pending) == receiving
        assert svc.running

        # Restarted, the worker rebuilds the state from the changelog and
        # closes the alert for every agency that got it. (Stopped, not killed:
        # a killed member holds its partitions for the session timeout, a
        # minute; test_fanout.py kills one.)
        svc.stop()
        svc.start("FANOUT_READY")
        (cancel_id,) = publish(bus, AlertCancelled(case_id=CASE, reason=CancelReason.FOUND))
        reader.until(
            lambda r: len(deliveries(r, cancel_id)) >= len(receiving), 60, "every cancellation"
        )
        assert Counter(d.agency_id for d in deliveries(reader, cancel_id)) == Counter(receiving)
        assert svc.running
        assert "Crashed" not in svc.log_path.read_text(encoding="utf-8", errors="replace")
    finally:
        reader.close()
        svc.stop()
