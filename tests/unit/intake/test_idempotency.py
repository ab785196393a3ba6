"""Idempotency: the pure rules, the in-memory store, and the behaviour through HTTP."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.codec import Codec, Record
from homeward.errors import CodecError
from homeward.events import AlertIssued, Event
from homeward.settings import KafkaSettings
from homeward_intake.handlers import Intake
from homeward_intake.idempotency import (
    AnswerTable,
    Decision,
    MemoryIdempotencyStore,
    Remembered,
    decide,
    event_id_for,
    request_hash,
)
from homeward_intake.idempotency_kafka import KafkaIdempotencyStore
from homeward_intake.publisher import MemoryPublisher, Published
from tests.unit.intake import samples

KEY = {"Idempotency-Key": "key-0001"}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the pure rules ----------------------------------------------------------------


def test_request_hash_ignores_key_order_but_not_content() -> None:
    a = request_hash("T", "C1", {"x": 1, "y": {"a": 1, "b": 2}})
    b = request_hash("T", "C1", {"y": {"b": 2, "a": 1}, "x": 1})
    assert a == b
    assert a != request_hash("T", "C1", {"x": 2, "y": {"a": 1, "b": 2}})
    assert a != request_hash("T", "C2", {"x": 1, "y": {"a": 1, "b": 2}})
    assert a != request_hash("U", "C1", {"x": 1, "y": {"a": 1, "b": 2}})


def test_event_id_is_deterministic_per_key_and_request() -> None:
    h1, h2 = request_hash("T", "C", {"n": 1}), request_hash("T", "C", {"n": 2})
    assert event_id_for("k", h1) == event_id_for("k", h1)
    assert event_id_for("k", h1) != event_id_for("other", h1)
    # A key reused for another request never takes over an earlier event's id.
    assert event_id_for("k", h1) != event_id_for("k", h2)


def test_decide() -> None:
    prior = Remembered("h1", {"event_id": "e"})
    assert decide(None, "h1") is Decision.NEW
    assert decide(prior, "h1") is Decision.REPLAY
    assert decide(prior, "h2") is Decision.CONFLICT


def test_remembered_round_trips_as_the_documented_json() -> None:
    r = Remembered("abc", {"event_id": "e1", "case_id": "C"}, stored_at=5.0)
    doc = json.loads(r.to_json())
    assert doc == {"request_hash": "abc", "response": {"event_id": "e1", "case_id": "C"}}
    assert Remembered.from_json(r.to_json(), stored_at=5.0) == r


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "value"),
        (b"[1]", "value"),
        (b'{"response": {}}', "value.request_hash"),
        (b'{"request_hash": "h", "response": 3}', "value.response"),
    ],
)
def test_unreadable_records_are_codec_errors_naming_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(CodecError) as info:
        Remembered.from_json(raw)
    assert info.value.field == field


def test_answers_expire_after_the_ttl() -> None:
    clock = FakeClock()
    table = AnswerTable(ttl_seconds=60, clock=clock)
    table.set("old", Remembered("h", {}, stored_at=clock.now))
    table.set("new", Remembered("h", {}, stored_at=clock.now + 30))
    clock.now += 61
    assert table.get("old") is None
    assert table.get("new") is not None
    clock.now += 30
    assert table.prune() == 1
    assert len(table) == 0


# -- through HTTP -----------------------------------------------------------------------


def test_retry_with_the_same_key_replays_the_answer_and_publishes_once(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    first = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    again = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(publisher.events()) == 1


def test_the_same_request_spelled_differently_is_still_a_retry(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    first = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    # Keys reordered and the same instant written in another time zone.
    body = dict(reversed(list(samples.alert().items())))
    body["last_seen_at"] = "2026-01-01T00:00:00Z"
    again = http.post("/v1/alerts", json=body, headers=KEY)
    assert again.json() == first.json()
    assert len(publisher.events()) == 1


def test_spelled_out_defaults_are_the_same_request(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    first = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    full = AlertIssued.model_validate(samples.alert()).model_dump(mode="json", exclude={"actor"})
    assert full["details"] == "" and "details" not in samples.alert()
    again = http.post("/v1/alerts", json=full, headers=KEY)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert len(publisher.events()) == 1


def test_same_key_different_body_is_409_naming_the_header(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    assert http.post("/v1/alerts", json=samples.alert(), headers=KEY).status_code == 202
    resp = http.post("/v1/alerts", json=samples.alert(details="changed"), headers=KEY)
    assert resp.status_code == 409
    assert resp.json()["error"] == "idempotency_conflict"
    assert [e["field"] for e in resp.json()["errors"]] == ["Idempotency-Key"]
    assert "Idempotency-Key" in resp.json()["message"]
    assert len(publisher.events()) == 1


def test_same_key_on_another_route_is_409(http: TestClient, publisher: MemoryPublisher) -> None:
    assert http.post("/v1/alerts", json=samples.alert(), headers=KEY).status_code == 202
    resp = http.post("/v1/alerts/C1/updates", json=samples.update(), headers=KEY)
    assert resp.status_code == 409
    assert len(publisher.events()) == 1


def test_without_a_key_every_request_is_new(http: TestClient, publisher: MemoryPublisher) -> None:
    a = http.post("/v1/alerts", json=samples.alert("PS-TEST-1-A")).json()
    b = http.post("/v1/alerts", json=samples.alert("PS-TEST-1-B")).json()
    assert a["event_id"] != b["event_id"]
    assert len(publisher.events()) == 2


def test_a_failed_publish_is_not_remembered_and_the_retry_keeps_the_event_id(
    http: TestClient, publisher: MemoryPublisher, store: MemoryIdempotencyStore
) -> None:
    publisher.fail = True
    assert http.post("/v1/alerts", json=samples.alert(), headers=KEY).status_code == 503
    assert store.get(KEY["Idempotency-Key"]) is None
    publisher.fail = False
    ok = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    assert ok.status_code == 202
    alert = AlertIssued.model_validate(samples.alert())
    sent = alert.model_dump(mode="json", exclude_defaults=True)
    hashed = request_hash("homeward.alerts.AlertIssued", samples.CASE_ID, sent)
    assert ok.json()["event_id"] == event_id_for(KEY["Idempotency-Key"], hashed)


def test_an_unwritable_idempotency_log_still_answers_202(
    http: TestClient, publisher: MemoryPublisher, store: MemoryIdempotencyStore
) -> None:
    store.fail_puts = True
    resp = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    assert resp.status_code == 202  # the event is on the bus; that is what 202 means
    assert len(publisher.events()) == 1


def test_two_instances_racing_on_one_retry_publish_the_same_ce_id() -> None:
    # Two instances that have not seen each other's answer yet (separate memories).
    codec = Codec()
    ids = []
    for name in ("a", "b"):
        pub = MemoryPublisher()
        intake = Intake(pub, MemoryIdempotencyStore(), source_name=name)
        event = AlertIssued.model_validate(samples.alert())
        intake.accept(
            event,
            samples.alert(),
            "shared-key",
            principal=samples.police_principal(),
            action="alert.issue",
        )
        [record] = pub.events()
        ids.append(codec.decode(record.value, record.headers).meta.id)
    assert ids[0] == ids[1]


class SlowPublisher(MemoryPublisher):
    """Holds every publish until released, so concurrent requests really overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(
        self, event: Event, *, topic_id: str, event_id: str, source: str, time: datetime
    ) -> Published:
        self.entered.set()
        assert self.release.wait(10)
        return super().publish(
            event, topic_id=topic_id, event_id=event_id, source=source, time=time
        )


def test_concurrent_requests_with_one_key_publish_once() -> None:
    pub = SlowPublisher()
    intake = Intake(pub, MemoryIdempotencyStore(), source_name="t")
    event = AlertIssued.model_validate(samples.alert())
    answers: list[dict[str, Any]] = []

    def call() -> None:
        answers.append(
            intake.accept(
                event,
                samples.alert(),
                "concurrent-key",
                principal=samples.police_principal(),
                action="alert.issue",
            ).answer
        )

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    assert pub.entered.wait(10)
    pub.release.set()
    for t in threads:
        t.join(10)
    assert len(answers) == 8
    assert all(a == answers[0] for a in answers)
    assert len(pub.events()) == 1


# -- the Kafka store's handling of log records (no broker needed) ---------------------


class ListWriter:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Record]] = []

    def send_record(self, topic: str, record: Record) -> None:
        self.sent.append((topic, record))


def kafka_store(clock: FakeClock) -> tuple[KafkaIdempotencyStore, ListWriter]:
    writer = ListWriter()
    store = KafkaIdempotencyStore(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        "t.intake.requests.v1",
        writer,
        ttl_seconds=3600,
        clock=clock,
    )
    return store, writer


def test_kafka_store_puts_the_json_record_keyed_by_the_idempotency_key() -> None:
    clock = FakeClock()
    store, writer = kafka_store(clock)
    remembered = Remembered("h", {"event_id": "e"}, stored_at=clock.now)
    store.put("k1", remembered)
    assert store.get("k1") == remembered
    [(topic, record)] = writer.sent
    assert topic == "t.intake.requests.v1"
    assert record.key == b"k1"
    assert json.loads(record.value) == {"request_hash": "h", "response": {"event_id": "e"}}


def test_kafka_store_applies_the_log_last_write_wins_and_skips_junk() -> None:
    clock = FakeClock()
    store, _ = kafka_store(clock)
    ms = int(clock.now * 1000)
    store._apply_one(b"k", Remembered("h1", {"n": 1}).to_json(), ms)
    store._apply_one(b"k", Remembered("h2", {"n": 2}).to_json(), ms)
    assert store.get("k") == Remembered("h2", {"n": 2}, stored_at=clock.now)
    store._apply_one(b"k", b"garbage", ms)  # skipped, not fatal
    store._apply_one(None, b"{}", ms)
    store._apply_one(b"\xff", Remembered("h", {}).to_json(), ms)
    assert store.get("k") == Remembered("h2", {"n": 2}, stored_at=clock.now)
    store._apply_one(b"k", None, ms)  # a tombstone forgets the key
    assert store.get("k") is None
    store._apply_one(b"old", Remembered("h", {}).to_json(), ms - 3601 * 1000)
    assert store.get("old") is None  # already expired when read
    assert len(store.table) == 0


def test_kafka_store_is_not_ready_before_start() -> None:
    store, _ = kafka_store(FakeClock())
    assert not store.ready()
    assert store.sync(0.01) is False


def test_a_retry_after_a_lost_answer_is_202_with_the_same_event_not_a_409(
    http: TestClient, publisher: MemoryPublisher, store: MemoryIdempotencyStore
) -> None:
    # The first try reached the bus and the alert log, but neither its answer nor its
    # idempotency record survived (intake killed between the two; seen by the fault suite).
    store.fail_puts = True
    first = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    assert first.status_code == 202
    store.fail_puts = False
    retry = http.post("/v1/alerts", json=samples.alert(), headers=KEY)
    assert retry.status_code == 202, retry.json()
    assert retry.json()["event_id"] == first.json()["event_id"]
    ids = [p.meta.id for p in publisher.published if p.record in publisher.events()]
    assert ids == [first.json()["event_id"]] * 2  # the same ce_id: consumers drop the copy
    # A new request for the same case is still refused: the case is issued.
    other = http.post("/v1/alerts", json=samples.alert(), headers={"Idempotency-Key": "key-0002"})
    assert other.status_code == 409
