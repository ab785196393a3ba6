"""Subscriber.run and poll() over an in-memory partition (fake kafka-python
clients): a delivery whose handler raised is handled again, in order, with a
bounded backoff, and the committed offset never moves past it; a batch is
committed once, after one wait for all its acknowledgements."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.errors import RebalanceInProgressError

from homeward import kafka
from homeward.codec import Codec, Record
from homeward.deadletter import OFFSET
from homeward.events import AgencyAcknowledgement
from homeward.events.base import Event
from homeward.settings import KafkaSettings
from homeward_agency.delivery import Delivery
from homeward_agency.subscriber import Subscriber
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import INBOX, FakeConsumer, FakeProducer, Stop

codec = Codec()
ME = "PS-UNIT-1"


class Handler:
    """Raises for the first `fails[id]` calls with a delivery id; records calls."""

    def __init__(self, consumer: FakeConsumer, fails: dict[str, int]) -> None:
        self.consumer = consumer
        self.fails = dict(fails)
        self.calls: list[tuple[str, int | None]] = []  # (delivery id, committed then)
        self.taken: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> None:
        self.calls.append((delivery.delivery_id, self.consumer.committed))
        if self.fails.get(delivery.delivery_id, 0) > 0:
            self.fails[delivery.delivery_id] -= 1
            raise RuntimeError("endpoint down (test)")
        self.taken.append(delivery)


def ours(delivery_id: str, event: Event | None = None, agency: str = ME) -> Record:
    return s.encode(codec, s.delivery(agency, delivery_id, event=event), agency)


def partition(*records: Record) -> list[s.RawRecord]:
    return [s.raw(r, offset=i, topic=INBOX) for i, r in enumerate(records)]


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"producer": FakeProducer()}

    def consumer(*_a: Any, **_kw: Any) -> FakeConsumer:
        return made["consumer"]  # type: ignore[no-any-return]

    monkeypatch.setattr(kafka, "consumer", consumer)
    monkeypatch.setattr(kafka, "producer", lambda *_a, **_kw: made["producer"])
    yield made


def subscriber(clients: dict[str, Any], records: list[s.RawRecord], **kw: Any) -> Subscriber:
    clients["consumer"] = FakeConsumer(records, **kw)
    return Subscriber(ME, "police", KafkaSettings(bootstrap_servers="fake:9092", topic_prefix=""))


def acked(producer: FakeProducer) -> list[str]:
    out: list[str] = []
    for topic, record in producer.sent:
        if topic == "alerts.acks.v1":
            ack = codec.decode(record.value, record.headers).event
            assert isinstance(ack, AgencyAcknowledgement)
            out.append(ack.delivery_id)
    return out


@pytest.mark.parametrize(
    ("event", "kind"), [(s.updated(), "update"), (s.cancelled(), "cancellation")]
)
def test_a_failed_delivery_is_handled_again_without_a_resend(
    clients: dict[str, Any], event: Event, kind: str
) -> None:
    records = partition(ours("D-1", event), ours("X-1", agency="PS-UNIT-OTHER"), ours("D-2"))
    sub = subscriber(clients, records)
    consumer: FakeConsumer = clients["consumer"]
    handler = Handler(consumer, {"D-1": 2})
    stop = Stop()
    consumer.on_idle = stop.set
    sub.run(handler, stop)

    # D-1 three times, D-2 only after it; nothing committed past D-1 until it was
    # taken, and then only once the batch it came in was done.
    assert handler.calls == [("D-1", None), ("D-1", 0), ("D-1", 0), ("D-2", 0)]
    assert [d.delivery_id for d in handler.taken] == ["D-1", "D-2"]
    assert handler.taken[0].kind == kind
    assert acked(clients["producer"]) == ["D-1", "D-2"]  # each once
    assert consumer.commits == [0, 3]
    assert consumer.seeks == [0, 0]
    assert stop.waits == [0.5, 1.0]
    stats = sub.stats()
    assert (stats.handler_failures, stats.acks_sent, stats.duplicates) == (2, 2, 0)
    assert stats.skipped_other_agencies == 1


def test_backoff_doubles_to_the_cap_and_starts_over_after_a_success(
    clients: dict[str, Any],
) -> None:
    sub = subscriber(clients, partition(ours("D-1"), ours("D-2")))
    consumer: FakeConsumer = clients["consumer"]
    handler = Handler(consumer, {"D-1": 8, "D-2": 2})
    stop = Stop()
    consumer.on_idle = stop.set
    sub.run(handler, stop)
    assert stop.waits == [0.5, 1, 2, 4, 8, 16, 30, 30, 0.5, 1]
    assert [d.delivery_id for d in handler.taken] == ["D-1", "D-2"]
    assert consumer.committed == 2


def test_a_stop_during_the_backoff_leaves_the_commit_at_the_failed_delivery(
    clients: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscriber(clients, partition(ours("D-1"), ours("D-2"), ours("D-3")), max_records=2)
    consumer: FakeConsumer = clients["consumer"]
    handler = Handler(consumer, {"D-2": 99})
    stop = Stop(stop_on_wait=True)
    with caplog.at_level(logging.WARNING, logger="homeward_agency"):
        sub.run(handler, stop, retry_delay=0.25)
    assert [d.delivery_id for d in handler.taken] == ["D-1"]
    assert [c for c, _ in handler.calls] == ["D-1", "D-2"]  # D-3 waits behind D-2
    assert consumer.committed == 1 and stop.waits == [0.25]
    assert acked(clients["producer"]) == ["D-1"]
    (failure,) = [r for r in caplog.records if "handler failed" in r.getMessage()]
    message = failure.getMessage()
    assert "D-2" in message and "RuntimeError" in message
    assert "endpoint down" not in message  # an error's text may repeat a child's details
    assert "Test Child" not in caplog.text and "Example Park" not in caplog.text


def test_undecodable_records_are_still_dead_lettered_once_and_committed_past(
    clients: dict[str, Any],
) -> None:
    garbage = Record(ME.encode(), b"\x00not avro", [])
    sub = subscriber(clients, partition(ours("D-1"), garbage, ours("D-2"), garbage))
    consumer: FakeConsumer = clients["consumer"]
    handler = Handler(consumer, {"D-2": 1})
    stop = Stop()
    consumer.on_idle = stop.set
    sub.run(handler, stop)
    producer: FakeProducer = clients["producer"]
    letters = [r for t, r in producer.sent if t == "police.deadletter.v1"]
    assert [dict(r.headers)[OFFSET] for r in letters] == [b"1", b"3"]
    assert sub.stats().dead_letters == 2
    assert consumer.committed == 4


def test_poll_and_rewind_show_the_failed_delivery_and_the_rest_of_its_batch_again(
    clients: dict[str, Any],
) -> None:
    garbage = Record(ME.encode(), b"\x00not avro", [])
    other = ours("X-1", agency="PS-UNIT-OTHER")
    sub = subscriber(clients, partition(ours("D-1"), garbage, other, ours("D-2"), ours("D-3")))
    consumer: FakeConsumer = clients["consumer"]
    first = sub.poll()
    assert [d.delivery_id for d in first] == ["D-1", "D-2", "D-3"]
    sub.acknowledge(first[0])
    sub.rewind(first[1])  # D-2 failed: D-3 is left for later too
    sub.commit()
    assert consumer.committed == 3  # past D-1 and the bad and foreign records, not D-2
    again = sub.poll()
    assert [d.delivery_id for d in again] == ["D-2", "D-3"]
    for d in again:
        sub.acknowledge(d)
    sub.commit()
    assert consumer.committed == 5
    assert acked(clients["producer"]) == ["D-1", "D-2", "D-3"]
    stats = sub.stats()
    assert (stats.dead_letters, stats.skipped_other_agencies, stats.duplicates) == (1, 1, 0)


def test_a_failed_acknowledgement_send_commits_nothing(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, partition(ours("D-1")))
    clients["producer"].fail_with = RuntimeError("broker gone (test)")
    consumer: FakeConsumer = clients["consumer"]
    with pytest.raises(RuntimeError, match="broker gone"):
        sub.run(Handler(consumer, {}), Stop())
    assert consumer.commits == []


def test_retry_delays_must_make_sense(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, [])
    with pytest.raises(ValueError):
        sub.run(Handler(clients["consumer"], {}), Stop(), retry_delay=0)
    with pytest.raises(ValueError):
        sub.run(Handler(clients["consumer"], {}), Stop(), retry_delay=5, retry_delay_max=1)


class Journal:
    """One ordered log of the clients' calls, to see what waits for what."""

    def __init__(self, clients: dict[str, Any]) -> None:
        self.calls: list[str] = []
        producer: FakeProducer = clients["producer"]
        consumer: FakeConsumer = clients["consumer"]
        send, flush, commit = producer.send, producer.flush, consumer.commit

        def sending(*a: Any, **kw: Any) -> Any:
            self.calls.append("send")
            return send(*a, **kw)

        def flushing(timeout: float | None = None) -> None:
            self.calls.append("flush")
            flush(timeout)

        def committing(offsets: dict[Any, Any]) -> None:
            self.calls.append("commit")
            commit(offsets)

        producer.send = sending  # type: ignore[method-assign]
        producer.flush = flushing  # type: ignore[method-assign]
        consumer.commit = committing  # type: ignore[method-assign]


def test_a_batch_is_committed_once_after_one_wait_for_all_its_acknowledgements(
    clients: dict[str, Any],
) -> None:
    garbage = Record(ME.encode(), b"\x00not avro", [])
    records = partition(ours("D-1"), ours("D-2"), garbage, ours("D-3"), ours("D-4"))
    sub = subscriber(clients, records, max_records=3)
    consumer: FakeConsumer = clients["consumer"]
    journal = Journal(clients)
    handler = Handler(consumer, {})
    stop = Stop()
    consumer.on_idle = stop.set
    sub.run(handler, stop)
    # Two polls (3 records, then 2): two acks and a dead letter sent, one wait
    # for them, one commit; then the same for the second batch.
    assert journal.calls == ["send"] * 3 + ["flush", "commit"] + ["send"] * 2 + ["flush", "commit"]
    assert consumer.commits == [3, 5]
    assert handler.calls == [("D-1", None), ("D-2", None), ("D-3", 3), ("D-4", 3)]
    assert acked(clients["producer"]) == ["D-1", "D-2", "D-3", "D-4"]


def test_a_commit_refused_by_a_rebalance_is_made_by_the_next_one(
    clients: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    sub = subscriber(clients, partition(ours("D-1"), ours("D-2")), max_records=1)
    consumer: FakeConsumer = clients["consumer"]
    commit = consumer.commit

    def busy_once(offsets: dict[Any, Any]) -> None:
        consumer.commit = commit  # type: ignore[method-assign]
        raise RebalanceInProgressError("rebalancing (test)")

    consumer.commit = busy_once  # type: ignore[method-assign]
    [d1] = sub.poll()
    sub.acknowledge(d1)
    with caplog.at_level(logging.WARNING, logger="homeward_agency"):
        sub.commit()
    assert consumer.commits == [] and "rebalance" in caplog.text
    sub.commit()  # nothing new taken, but the refused offset is still to commit
    assert consumer.commits == [1]
