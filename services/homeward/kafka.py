"""Thin kafka-python wrappers: one place that turns settings into clients and
records into sends. Application logic never builds a client itself."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.partitioner.default import murmur2

from homeward.codec import Record
from homeward.settings import KafkaSettings

RECONNECT_BACKOFF_MAX_MS = 2000


def producer(settings: KafkaSettings | None = None, **overrides: Any) -> KafkaProducer:
    """An idempotent, acks=all producer: nothing acknowledged is lost."""
    settings = settings or KafkaSettings()
    opts: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "retries": 5,
        # kafka-python waits up to 30 s between reconnects by default: a broker
        # back from an outage would go unnoticed for that long.
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **settings.kafka_python(),
    }
    opts.update(overrides)
    return KafkaProducer(**opts)


def consumer(
    settings: KafkaSettings | None = None,
    *topics: str,
    group_id: str | None,
    metadata_timeout: float = 30.0,
    **overrides: Any,
) -> KafkaConsumer:
    """A consumer that commits only when told to (after the work is done).

    With topics, it subscribes only once it knows their partitions: a group
    member that joins before a new topic's metadata arrived is assigned
    nothing and would not rejoin until the next metadata refresh (5 minutes).
    """
    settings = settings or KafkaSettings()
    opts: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **settings.kafka_python(),
    }
    opts.update(overrides)
    client = KafkaConsumer(**opts)
    if topics:
        deadline = time.monotonic() + metadata_timeout
        missing = list(topics)
        while missing and time.monotonic() < deadline:
            missing = [t for t in missing if not client.partitions_for_topic(t)]
            if missing:
                time.sleep(0.1)  # partitions_for_topic fetched metadata; a new topic may lag
        # A topic still unknown is subscribed to anyway: it is picked up once it exists.
        client.subscribe(list(topics))
    return client


def send(producer_: KafkaProducer, topic: str, record: Record) -> Any:
    """Send one record; returns kafka-python's future."""
    return producer_.send(topic, key=record.key, value=record.value, headers=record.headers)


def send_all(
    producer_: KafkaProducer, sends: Iterable[tuple[str, Record]], timeout: float = 30
) -> None:
    """Send records and wait until every one is acknowledged; raise on the first failure."""
    # Wait on these records only: flush() would also wait for other threads' sends.
    futures = [send(producer_, topic, record) for topic, record in sends]
    for f in futures:
        f.get(timeout=timeout)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) picks for a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
