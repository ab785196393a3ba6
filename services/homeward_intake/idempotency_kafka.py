"""The idempotency store on Kafka: the compacted topic `intake_requests`.

Key = the Idempotency-Key, value = JSON {request_hash, response}. At start the
topic is read to its end into memory; a background thread keeps tailing it, so
every intake instance learns the answers the others gave, and a restarted
instance rebuilds the table from the log. Kafka is the only state (GUIDE).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.codec import Record
from homeward.errors import CodecError, ConfigError
from homeward.settings import KafkaSettings
from homeward_intake.idempotency import AnswerTable, Remembered
from homeward_intake.publisher import PublishUnavailable

log = logging.getLogger(__name__)

POLL_MS = 50  # also how long a sync() may wait before the tail thread sees it
PROBE_EVERY_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 60.0
JSON_HEADERS = [("content-type", b"application/json")]


class RecordWriter(Protocol):
    def send_record(self, topic: str, record: Record) -> None: ...


class KafkaIdempotencyStore:
    """Answers by key, loaded from and written to the compacted topic."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        writer: RecordWriter,
        *,
        ttl_seconds: float = 7 * 24 * 3600,
        startup_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.writer = writer
        self.table = AnswerTable(ttl_seconds, clock)
        self.startup_timeout = startup_timeout_seconds
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._barriers: queue.SimpleQueue[threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reachable = True

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        timeout_ms = int(self.startup_timeout * 1000)
        try:
            consumer = hkafka.consumer(
                self.settings,
                group_id=None,  # every instance reads everything; no offsets to commit
                bootstrap_timeout_ms=timeout_ms,
                fetch_max_wait_ms=POLL_MS * 2,
                request_timeout_ms=max(timeout_ms, 1000),
            )
        except KafkaError as exc:
            raise PublishUnavailable(f"cannot reach Kafka to read {self.topic}: {exc}") from exc
        try:
            tps = self._assign(consumer)
            self._catch_up(consumer, tps, time.monotonic() + self.startup_timeout)
        except BaseException:
            consumer.close()
            raise
        self._caught_up.set()
        log.info("idempotency log %s read: %d live keys", self.topic, len(self.table))
        # The consumer now belongs to the tail thread alone (it is not thread-safe).
        self._thread = threading.Thread(
            target=self._tail, args=(consumer, tps), name="intake-idempotency-tail", daemon=True
        )
        self._thread.start()

    def ready(self) -> bool:
        alive = self._thread is not None and self._thread.is_alive()
        return alive and self._caught_up.is_set() and self._reachable

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the store -------------------------------------------------------------
    def get(self, key: str) -> Remembered | None:
        return self.table.get(key)

    def sync(self, timeout: float) -> bool:
        if not self.ready():
            return False
        barrier = threading.Event()
        self._barriers.put(barrier)
        return barrier.wait(timeout)

    def put(self, key: str, remembered: Remembered) -> None:
        # Memory first: even if the write fails, this instance still replays.
        self.table.set(key, remembered)
        record = Record(key.encode("utf-8"), remembered.to_json(), list(JSON_HEADERS))
        self.writer.send_record(self.topic, record)

    # -- reading the log ---------------------------------------------------------
    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise ConfigError(
                "topic not found; apply the topology first (homeward topology apply)",
                field=f"topics.{self.topic}",
            )
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return tps

    def _catch_up(
        self, consumer: KafkaConsumer, tps: list[TopicPartition], deadline: float
    ) -> None:
        """Read until every partition reaches the end offsets it has now."""
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        targets = consumer.end_offsets(tps, timeout_ms=remaining_ms)
        while True:
            behind = [
                tp
                for tp in tps
                if (consumer.position(tp, timeout_ms=remaining_ms) or 0) < targets[tp]
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise PublishUnavailable(
                    f"could not read {self.topic} to its end in time; {len(behind)} partitions behind"
                )
            self._apply(consumer.poll(timeout_ms=POLL_MS))
            remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)

    def _apply(self, batches: dict[Any, Iterable[Any]]) -> None:
        for records in batches.values():
            for rec in records:
                self._apply_one(rec.key, rec.value, rec.timestamp)

    def _apply_one(self, key: bytes | None, value: bytes | None, timestamp_ms: int) -> None:
        if key is None:
            return
        try:
            k = key.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("skipping an idempotency record whose key is not UTF-8")
            return
        if value is None:
            self.table.delete(k)  # a tombstone: an operator made the key forgettable
            return
        try:
            remembered = Remembered.from_json(value, stored_at=timestamp_ms / 1000)
        except CodecError as exc:
            # Not ours to crash on: another version or a stray writer. Skip it.
            log.warning("skipping an unreadable idempotency record: %s", exc)
            return
        if self.table.clock() - remembered.stored_at > self.table.ttl:
            self.table.delete(k)  # expired: not worth the memory, and never replayed
            return
        self.table.set(k, remembered)

    def _tail(self, consumer: KafkaConsumer, tps: list[TopicPartition]) -> None:
        last_probe = last_prune = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    self._apply(consumer.poll(timeout_ms=POLL_MS))
                    now = time.monotonic()
                    waiting = self._take_barriers()
                    if waiting or now - last_probe > PROBE_EVERY_SECONDS:
                        # Reading up to the current end answers the waiting syncs and
                        # doubles as the readiness probe: a real broker round trip.
                        self._catch_up(consumer, tps, now + min(self.startup_timeout, 10.0))
                        self._reachable = True
                        last_probe = now
                        for barrier in waiting:
                            barrier.set()
                    if now - last_prune > PRUNE_EVERY_SECONDS:
                        self.table.prune()
                        last_prune = now
                except Exception as exc:  # keep tailing; readiness reports it
                    if self._reachable:
                        log.warning("idempotency log unreachable: %s", exc)
                    self._reachable = False
                    last_probe = time.monotonic()
                    self._stop.wait(1.0)
        finally:
            consumer.close()

    def _take_barriers(self) -> list[threading.Event]:
        taken: list[threading.Event] = []
        while True:
            try:
                taken.append(self._barriers.get_nowait())
            except queue.Empty:
                return taken
