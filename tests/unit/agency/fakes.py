"""Fake kafka-python clients for the agency unit tests: one in-memory
partition to consume, a producer that records what it is given, and a stop
event whose waits return at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition

from homeward.codec import Record
from tests.unit.agency import samples as s

INBOX = "police.inbox.v1"


class Future:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Record]] = []
        self.fail_with: Exception | None = None
        self.flushes = 0

    def send(self, topic: str, key: bytes, value: bytes, headers: Any) -> Future:
        self.sent.append((topic, Record(key, value, list(headers))))
        return Future(self.fail_with)

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self, timeout: float | None = None) -> None:
        pass

    def topics(self) -> list[str]:
        return [topic for topic, _r in self.sent]


class FakeConsumer:
    """One partition of one topic; poll() hands out up to `max_records` from
    the position, and calls `on_idle` when there is nothing left."""

    def __init__(self, records: list[s.RawRecord], max_records: int = 500) -> None:
        self.records = records
        self.max_records = max_records
        self.position = 0
        self.commits: list[int] = []
        self.seeks: list[int] = []
        self.on_idle: Callable[[], None] = lambda: None

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, tps: list[TopicPartition]) -> None:
        assert [tp.partition for tp in tps] == [0]

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[s.RawRecord]]:
        batch = self.records[self.position : self.position + self.max_records]
        if not batch:
            self.on_idle()
            return {}
        self.position += len(batch)
        return {TopicPartition(INBOX, 0): batch}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.position = offset

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        (meta,) = offsets.values()
        self.commits.append(meta.offset)

    @property
    def committed(self) -> int | None:
        return self.commits[-1] if self.commits else None

    def close(self, autocommit: bool = False) -> None:
        pass


class Stop(threading.Event):
    """A stop event whose waits return at once and are recorded."""

    def __init__(self, stop_on_wait: bool = False) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.stop_on_wait = stop_on_wait

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if self.stop_on_wait:
            self.set()
        return self.is_set()
