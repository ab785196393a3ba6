"""Reading audit.log.v1 back: a partition's tail (for the sequencer) or every
partition to its end (for the verifier), decoded into chain items."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from kafka import KafkaConsumer, TopicPartition

from homeward import kafka
from homeward.audit.chain import Chained, Checkpoint, Item
from homeward.codec import Codec
from homeward.errors import CodecError
from homeward.events.audit import AuditChained, AuditCheckpoint
from homeward.settings import KafkaSettings

log = logging.getLogger(__name__)


class UnreadableLog(Exception):
    """A record on audit.log.v1 that is not a chain item: itself a finding."""

    def __init__(self, partition: int, offset: int, reason: str) -> None:
        super().__init__(f"partition {partition} offset {offset}: unreadable: {reason}")
        self.partition, self.offset, self.reason = partition, offset, reason


def to_item(
    codec: Codec, partition: int, offset: int, value: bytes | None, headers: object
) -> Item:
    try:
        event = codec.decode(value, headers)  # type: ignore[arg-type]
    except CodecError as exc:
        raise UnreadableLog(partition, offset, str(exc)) from exc
    e = event.event
    if isinstance(e, AuditChained):
        return Chained(e.partition, e.seq, e.prev_hash, e.hash, e.entry.to_entry(), offset)
    if isinstance(e, AuditCheckpoint):
        return Checkpoint(e.partition, e.seq, e.hash, e.at, e.key_id, e.signature, offset)
    raise UnreadableLog(partition, offset, f"{type(e).__name__} does not belong on the log")


def reader(settings: KafkaSettings) -> KafkaConsumer:
    return kafka.consumer(settings, group_id=None, enable_auto_commit=False)


def read_range(
    consumer: KafkaConsumer,
    codec: Codec,
    tp: TopicPartition,
    start: int,
    end: int,
    timeout: float = 60.0,
) -> Iterator[Item]:
    """Items at offsets [start, end) of one partition (offsets may skip: compaction, markers)."""
    if start >= end:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    deadline = time.monotonic() + timeout
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tp.topic}[{tp.partition}]: not read to offset {end} in time")
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                if r.offset >= end:
                    return
                yield to_item(codec, tp.partition, r.offset, r.value, r.headers)


def read_all(settings: KafkaSettings, topic: str, codec: Codec | None = None) -> list[Item]:
    """Every item of every partition, to the end offsets as they were when asked."""
    codec = codec or Codec()
    consumer = reader(settings)
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise UnreadableLog(-1, -1, f"topic {topic} has no partitions (does it exist?)")
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        begins, ends = kafka.beginning_offsets(consumer, tps), kafka.end_offsets(consumer, tps)
        items: list[Item] = []
        for tp in tps:
            items.extend(read_range(consumer, codec, tp, begins[tp], ends[tp]))
        return items
    finally:
        consumer.close()
