"""The idempotency store on Kafka: the compacted topic `intake_requests`.

Key = the Idempotency-Key, value = JSON {request_hash, response}. At start the
topic is read to its end into memory; a background thread keeps tailing it
(homeward.log_follower), so every intake instance learns the answers the others
gave, and a restarted instance rebuilds the table from the log. Kafka is the
only state (GUIDE).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from homeward.codec import Record
from homeward.errors import CodecError
from homeward.log_follower import LogFollower
from homeward.settings import KafkaSettings
from homeward_intake.idempotency import AnswerTable, Remembered

log = logging.getLogger(__name__)

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
        self.topic = topic
        self.writer = writer
        self.table = AnswerTable(ttl_seconds, clock)
        self.follower = LogFollower(
            settings,
            topic,
            self._apply_record,
            name="idempotency",
            startup_timeout_seconds=startup_timeout_seconds,
            # Forget expired answers, so memory follows the TTL rather than all history.
            housekeeping=self.table.prune,
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        if self.follower.running():
            return
        self.follower.start()
        log.info("idempotency log %s read: %d live keys", self.topic, len(self.table))

    def ready(self) -> bool:
        return self.follower.ready()

    def close(self) -> None:
        self.follower.close()

    # -- the store -------------------------------------------------------------
    def get(self, key: str) -> Remembered | None:
        return self.table.get(key)

    def sync(self, timeout: float) -> bool:
        return self.follower.sync(timeout)

    def put(self, key: str, remembered: Remembered) -> None:
        # Memory first: even if the write fails, this instance still replays.
        self.table.set(key, remembered)
        record = Record(key.encode("utf-8"), remembered.to_json(), list(JSON_HEADERS))
        self.writer.send_record(self.topic, record)

    # -- reading the log ---------------------------------------------------------
    def _apply_record(self, rec: Any) -> None:
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
