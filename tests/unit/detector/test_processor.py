"""The processor around the planner: decoding, topic and key checks, dead
letters, retries, forwarding, stored and deleted state, and the timer's
ticks, with a send function standing in for the producer (the flows run on
the real broker in tests/integration/test_detector.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

from homeward import processing
from homeward.actors import agency_actor, service_actor
from homeward.codec import Codec
from homeward.events import ClockTick, Event, IdentityCheck
from homeward.topology import Topology
from homeward_detector.processor import RESEND_AFTER_MS, DetectorProcessor
from homeward_detector.state import to_ms
from tests.unit.detector.world import T0, W, admission, certificate, delivery, mother

TOPOLOGY = Topology.load(prefix="")
RECORDS = TOPOLOGY.get("health_records").name
INDEX = TOPOLOGY.get("health_index").name
TICKS = TOPOLOGY.get("health_ticks").name
ANOMALIES = TOPOLOGY.get("anomalies").name
DLQ = TOPOLOGY.get("dead_letters").name
M = mother(1)


class FlakySend:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes, bytes, dict[str, bytes]]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes, headers: Any) -> Awaitable[Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker not available")
        self.sent.append((topic, key, value, dict(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def to(self, topic: str) -> list[tuple[str, bytes, bytes, dict[str, bytes]]]:
        return [s for s in self.sent if s[0] == topic]


class World:
    def __init__(self, failures: int = 0) -> None:
        self.send = FlakySend(failures)
        self.persons: dict[bytes, bytes] = {}
        self.index: dict[bytes, bytes] = {}
        self.codec = Codec()
        self.offset = 0
        self.processor = DetectorProcessor(
            topology=TOPOLOGY,
            windows=W,
            persons=self.persons,
            index=self.index,
            send=self.send,
            source="/test/detector",
            clock=lambda: to_ms(T0) / 1000,
        )

    def feed(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        self.offset += 1
        for side in ("person", "index"):  # both agents read the ticks
            asyncio.run(
                self.processor.process(side, topic, 0, self.offset, key, value, headers)  # type: ignore[arg-type]
            )

    def publish(self, topic: str, event: Event, key: str) -> None:
        rec, _ = self.codec.encode(event, key=key, source="/test/hospital")
        self.feed(topic, rec.key, rec.value, rec.headers)

    def forward_all(self) -> None:
        """Hand what the person view forwarded to the index view, as Kafka would."""
        for topic, key, value, headers in self.send.to(INDEX):
            self.feed(topic, key, value, list(headers.items()))


def test_records_forward_to_the_index_untouched_but_for_the_key() -> None:
    w = World()
    rec, meta = w.codec.encode(certificate(M, "C1", "D1", T0), key=M.id_number, source="/t")
    w.feed(RECORDS, rec.key, rec.value, rec.headers)
    sent = w.send.to(INDEX)
    assert [s[1] for s in sent] == [b"delivery:D1", b"certificate:C1"]
    assert all(s[2] == rec.value and s[3]["ce_id"] == meta.id.encode() for s in sent)
    w.forward_all()
    assert set(w.index) == {b"delivery:D1", b"certificate:C1"}
    assert json.loads(w.persons[M.id_number.encode()])["key"] == M.id_number


def test_an_anomaly_goes_to_the_police_topic_keyed_by_its_id() -> None:
    w = World()
    bad = admission(M, "A1", T0, check=IdentityCheck(document_match=False))
    w.publish(RECORDS, bad, M.id_number)
    ((_, key, value, headers),) = w.send.to(ANOMALIES)
    event = w.codec.decode(value, list(headers.items()))
    assert key.decode() == event.event.case_id == event.meta.id
    assert headers["ce_classification"] == b"police-only"


def test_unreadable_misplaced_and_miskeyed_records_are_dead_lettered() -> None:
    w = World()
    w.feed(RECORDS, M.id_number.encode(), b"\xc3\x01garbage", [])
    w.publish(RECORDS, admission(M, "A1", T0), "SOMEONE-ELSE")
    w.publish(INDEX, admission(M, "A1", T0), "delivery:D1")  # admissions are not indexed
    w.publish(INDEX, delivery(M, "D1", T0), "delivery:D2")
    w.publish(RECORDS, ClockTick(case_id=M.id_number, now=T0), M.id_number)
    letters = w.send.to(DLQ)
    assert [dict(h)["dlq_field"] for *_, h in letters] == [
        b"headers.ce_specversion",
        b"key",
        b"ce_type",
        b"key",
        b"ce_type",
    ]
    assert w.persons == {} and w.index == {}


def test_a_tick_is_handled_by_the_view_its_key_names() -> None:
    w = World()
    w.publish(RECORDS, certificate(M, "C1", "D1", T0), M.id_number)
    w.forward_all()
    before = len(w.send.sent)
    # An unreadable tick is dead-lettered once (by the view its key names), not twice.
    w.feed(TICKS, b"delivery:D1", b"junk", [])
    assert len(w.send.to(DLQ)) == 1 and dict(w.send.to(DLQ)[0][3])["dlq_service"] == b"detector"
    w.publish(TICKS, ClockTick(case_id=M.id_number, now=T0 + W.lateness), M.id_number)
    assert len(w.send.to(ANOMALIES)) == 1 and len(w.send.sent) == before + 2


def test_broker_trouble_is_retried_and_nothing_is_lost(monkeypatch: Any) -> None:
    monkeypatch.setattr(processing, "RETRY_FIRST_SECONDS", 0.001)
    w = World(failures=3)
    w.publish(RECORDS, delivery(M, "D1", T0), M.id_number)
    assert [s[1] for s in w.send.sent] == [b"delivery:D1"]
    assert M.id_number.encode() in w.persons


def test_state_is_deleted_from_the_table_when_its_windows_close_and_the_timer_wakes_it() -> None:
    w = World()
    w.publish(RECORDS, certificate(M, "C1", "D1", T0 - 2 * W.lateness), M.id_number)
    # Issued long enough ago by the wall clock: the timer ticks it.
    assert w.processor.due_ticks() == [M.id_number]
    tick = w.processor.tick(M.id_number)
    assert tick.key == M.id_number.encode()
    w.feed(TICKS, tick.key, tick.value, tick.headers)
    assert len(w.send.to(ANOMALIES)) == 1
    assert w.persons == {} and w.processor.due_ticks() == []
    w.publish(RECORDS, delivery(M, "D2", T0), M.id_number)
    assert w.processor.due_ticks() == []  # its window runs weeks ahead


def test_a_due_key_is_ticked_once_until_its_tick_is_handled_or_the_resend_time_passes() -> None:
    w = World()
    w.publish(RECORDS, certificate(M, "C1", "D1", T0 - 2 * W.lateness), M.id_number)
    assert w.processor.due_ticks() == [M.id_number]
    # The agent may be far behind: the next rounds must not bury it in ticks.
    assert w.processor.due_ticks() == []
    later = to_ms(T0) + RESEND_AFTER_MS
    w.processor.clock = lambda: later / 1000
    assert w.processor.due_ticks() == [M.id_number]  # never handled: sent again


def test_states_recovered_from_the_changelog_are_scheduled_and_revoked_ones_forgotten() -> None:
    w, other = World(), World()
    other.publish(RECORDS, certificate(M, "C1", "D1", T0 - 2 * W.lateness), M.id_number)
    # As a restart or a rebalance would: the table holds a state this processor never decided.
    w.persons.update(other.persons)
    assert w.processor.due_ticks() == [M.id_number]
    w.processor.clock = lambda: (to_ms(T0) + RESEND_AFTER_MS) / 1000
    w.persons.clear()  # the partition moved to another worker
    assert w.processor.due_ticks() == []


def test_the_schedule_stays_the_size_of_the_state_however_often_keys_change() -> None:
    w = World()
    # A small slack, so a few hundred changes of one key (each O(state) to judge)
    # cross the rebuild threshold several times.
    w.processor.stale_slack = 16
    for n in range(300):
        w.publish(RECORDS, delivery(M, f"D{n}", T0 - n * W.lateness), M.id_number)
        assert len(w.processor._due) <= 2 * (len(w.persons) + len(w.index)) + 16 + 1


def test_a_record_whose_actor_is_not_its_hospital_is_dead_lettered_not_judged() -> None:
    w = World()
    bad = admission(M, "A1", T0, check=IdentityCheck(document_match=False))
    # A delivery record "from" hospital A written by someone else, or by no one
    # named: no evidence of anything, so no anomaly and no state.
    for actor in (None, agency_actor("HOSP-OTHER", "health")):
        w.publish(RECORDS, bad.model_copy(update={"actor": actor}), M.id_number)
    assert w.send.to(ANOMALIES) == [] and w.persons == {}
    letters = w.send.to(DLQ)
    assert [d[3]["dlq_field"] for d in letters] == [b"actor", b"actor.agency_id"]
    assert b"HOSP-OTHER" in letters[1][3]["dlq_reason"]
    # The hospital's own record is judged, and the anomaly carries the detector's actor.
    w.publish(RECORDS, bad, M.id_number)
    ((_, _, value, headers),) = w.send.to(ANOMALIES)
    anomaly = w.codec.decode(value, list(headers.items())).event
    assert anomaly.actor == service_actor("detector")
