"""What a reader of inboxes sends (acknowledgements and dead letters), held
until confirmed: a consumer calls confirm() before it commits an offset, so no
offset moves past a record whose outcome could still be lost."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from homeward import kafka
from homeward.codec import Record
from homeward.deadletter import dead_letter, describe
from homeward.metric_labels import reason_label
from homeward.metrics import DEAD_LETTERS, EVENTS_CONSUMED, SDK_SENT
from homeward_agency.delivery import RawRecord

log = logging.getLogger(__name__)

SDK = "agency"  # the metrics' service / sdk label


def ce_type(headers: Sequence[tuple[str, bytes | None]] | None) -> str:
    """A record's CloudEvents type (its Avro name), for a metric's type label."""
    for name, value in headers or ():
        if name == "ce_type" and value:
            return value.decode("utf-8", "replace")
    return "unknown"


def consumed(topic: str, type_: str) -> None:
    """Count a record read and decoded (homeward_events_consumed_total)."""
    EVENTS_CONSUMED.labels(SDK, topic, type_).inc()


class Outbox:
    """A producer and the sends made through it that are not yet confirmed."""

    def __init__(self, producer: kafka.Producer, dead_letter_topic: str) -> None:
        self.producer = producer
        self.dead_letter_topic = dead_letter_topic
        self._pending: list[Any] = []  # kafka-python send futures

    def send(self, topic: str, record: Record) -> None:
        self._pending.append(kafka.send(self.producer, topic, record))
        SDK_SENT.labels(SDK, topic, ce_type(record.headers)).inc()

    def dead_letter(self, record: RawRecord, exc: Exception, service: str) -> None:
        """Copy an undecodable `record` to the dead-letter topic with why it failed."""
        field, reason = describe(exc)  # never the input's values
        log.warning(
            "dead-lettering %s[%d]@%d: field=%s reason=%s",
            record.topic,
            record.partition,
            record.offset,
            field or "-",
            reason,
        )
        letter = dead_letter(
            key=record.key,
            value=record.value,
            headers=record.headers,
            error=exc,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            service=service,
        )
        self._pending.append(kafka.send(self.producer, self.dead_letter_topic, letter))
        DEAD_LETTERS.labels(SDK, reason_label(field, exc)).inc()

    def confirm(self, timeout: float = 30.0) -> None:
        """Wait until every send so far is written; raise the first send's error."""
        if not self._pending:
            return
        self.producer.flush(timeout)
        pending, self._pending = self._pending, []
        for future in pending:
            future.get(timeout=timeout)  # raises the send's error: the caller commits nothing

    def __len__(self) -> int:
        return len(self._pending)
