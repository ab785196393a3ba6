"""The consumer-lag reporter (homeward.lag) with stand-ins for the admin
client and the consumer; on the real broker in tests/integration/test_metrics.py."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from homeward.lag import LagReporter, committed_offsets, lag_by_partition
from homeward.settings import KafkaSettings

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_lag_is_end_minus_commit_or_everything_held_when_never_committed() -> None:
    lag = lag_by_partition(
        [A0, A1, B0],
        committed={A0: 7},
        beginning={A1: 3, B0: 0},
        end={A0: 10, A1: 8, B0: 0},
    )
    assert lag == {A0: 3, A1: 5, B0: 0}


def test_a_commit_behind_retention_counts_from_the_first_record_held() -> None:
    assert lag_by_partition([A0], {A0: 2}, {A0: 5}, {A0: 9}) == {A0: 4}
    assert lag_by_partition([A0], {A0: 9}, {}, {A0: 9}) == {A0: 0}
    assert lag_by_partition([A0], {}, {}, {}) == {}  # no end known: not reported


def meta(offset: int) -> OffsetAndMetadata:
    return OffsetAndMetadata(offset, "", -1)


class Admin3:
    """kafka-python 3's admin API."""

    def __init__(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.offsets = offsets
        self.closed = False
        self.fail: Exception | None = None

    def list_group_offsets(self, specs: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        return {group: dict(self.offsets) for group in specs}

    def close(self) -> None:
        self.closed = True


class Admin2:
    """kafka-python 2's."""

    def list_consumer_group_offsets(self, group: str) -> dict[TopicPartition, Any]:
        return {A0: meta(4)}


class Consumer:
    def __init__(self, parts: dict[str, set[int]], end: dict[TopicPartition, int]) -> None:
        self.parts = parts
        self.end = end
        self.closed = False

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.parts.get(topic)

    def end_offsets(
        self, tps: list[TopicPartition], timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        return {tp: self.end[tp] for tp in tps}

    def beginning_offsets(
        self, tps: list[TopicPartition], timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    def close(self) -> None:
        self.closed = True


def test_committed_offsets_read_with_either_client_version() -> None:
    assert committed_offsets(Admin3({A0: meta(5)}), "g") == {A0: 5}
    assert committed_offsets(Admin2(), "g") == {A0: 4}


def lag(group: str, topic: str, partition: int) -> float | None:
    labels = {"service": "unit", "group": group, "topic": topic, "partition": str(partition)}
    return REGISTRY.get_sample_value("homeward_consumer_lag", labels)


def reporter(admin: Any, consumer: Any, group: str = "g1", **kw: Any) -> LagReporter:
    return LagReporter(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        service="unit",
        group=group,
        topics=["a"],
        admin_factory=lambda: admin,
        consumer_factory=lambda: consumer,
        **kw,
    )


def test_a_round_sets_the_gauge_for_every_partition_of_the_topics_read() -> None:
    admin = Admin3({A0: meta(4), B0: meta(1)})  # b: another topic of the group, not asked for
    consumer = Consumer({"a": {0, 1}}, {A0: 10, A1: 2, B0: 5})
    r = reporter(admin, consumer)
    assert r.poll_once() == {A0: 6, A1: 2}
    assert lag("g1", "a", 0) == 6 and lag("g1", "a", 1) == 2 and lag("g1", "b", 0) is None
    consumer.parts = {"a": {0}}  # a partition no longer there loses its series
    r.poll_once()
    assert lag("g1", "a", 1) is None and lag("g1", "a", 0) == 6


def test_a_failing_round_is_survived_reported_as_not_ready_and_retried() -> None:
    admin = Admin3({A0: meta(4)})
    consumer = Consumer({"a": {0}}, {A0: 4})
    r = reporter(admin, consumer, group="g2", stale_after_seconds=30)
    assert r.reachable() == "Kafka not reached yet"
    admin.fail = ConnectionError("no broker")
    r._round()  # must not raise
    assert r.reachable() == "Kafka not reached yet (ConnectionError: no broker)"
    assert admin.closed and consumer.closed  # rebuilt on the next round
    admin.fail = None
    r._round()
    assert r.reachable() is None and lag("g2", "a", 0) == 0
    assert r.last_ok is not None
    r.last_ok -= 60
    assert (r.reachable() or "").startswith("Kafka not reached for 60s")


def test_the_thread_runs_until_stopped_then_closes_its_clients() -> None:
    admin = Admin3({A0: meta(1)})
    consumer = Consumer({"a": {0}}, {A0: 3})
    r = reporter(admin, consumer, group="g3", interval_seconds=0.05).start()
    try:
        deadline = 200
        while lag("g3", "a", 0) is None and deadline:
            r._stop.wait(0.02)
            deadline -= 1
        assert lag("g3", "a", 0) == 2
    finally:
        r.stop()
    assert not r._thread.is_alive()
    assert admin.closed and consumer.closed
    assert r.reachable() == "stopping"


def test_a_factory_that_cannot_connect_does_not_stop_the_thread() -> None:
    def refuse() -> Any:
        raise ConnectionError("NoBrokersAvailable")

    r = LagReporter(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        service="unit",
        group="g4",
        topics=["a"],
        admin_factory=refuse,
        consumer_factory=refuse,
    )
    r._round()
    r._round()
    assert r.last_error == "ConnectionError: NoBrokersAvailable"


@pytest.mark.parametrize("interval", [1.0, 20.0])
def test_stale_after_leaves_room_for_a_few_rounds(interval: float) -> None:
    r = reporter(Admin3({}), Consumer({}, {}), interval_seconds=interval)
    assert r.stale_after >= 3 * interval and r.stale_after >= 30
