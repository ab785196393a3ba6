"""Thin kafka-python wrappers: one place that turns settings into clients and
records into sends. Application logic never builds a client itself."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.partitioner.default import murmur2

from homeward.codec import Record
from homeward.settings import KafkaSettings

RECONNECT_BACKOFF_MAX_MS = 2000
# kafka-python's and Kafka's default; callers with a shorter wait pass their own.
DELIVERY_TIMEOUT_MS = 120_000

log = logging.getLogger(__name__)

# The broker's (aiokafka's or kafka-python's) answers that no retry changes:
# they are about this record or its topic, not about the broker's health.
PERMANENT_ERRORS = frozenset(
    {
        "TopicAuthorizationFailedError",
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "RecordListTooLargeError",
        "InvalidTopicError",
        "PolicyViolationError",
        "CorruptRecordException",
        "UnsupportedForMessageFormatError",
    }
)


def is_permanent(exc: BaseException) -> bool:
    """Whether the broker refused the record for good (by the error's class)."""
    return any(c.__name__ in PERMANENT_ERRORS for c in type(exc).__mro__)


class RenewingProducer:
    """A kafka-python producer that is replaced once the broker refused a record for good.

    After one batch fails with a permanent error (MESSAGE_TOO_LARGE, a grant the ACLs
    refuse), kafka-python's idempotent producer fails every later send with the same
    error, whatever the topic (seen on the real broker): one refused record would
    silence the service for good. The refused send still fails, for its caller to park
    or answer; the next send goes through a new producer. Only the calls Homeward
    makes are here (send, flush, close), so a new use is a deliberate one.
    """

    def __init__(self, make: Callable[[], KafkaProducer]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._producer = make()
        self._poisoned = False
        self.renewals = 0

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> Any:
        producer = self._current()
        future = producer.send(
            topic,
            value=value,
            key=key,
            headers=headers,
            partition=partition,
            timestamp_ms=timestamp_ms,
        )
        future.add_errback(self._refused, producer)
        return future

    def _refused(self, producer: KafkaProducer, exc: BaseException) -> None:
        # On kafka-python's sender thread: only mark; the next send renews.
        if is_permanent(exc):
            with self._lock:
                if producer is self._producer:
                    self._poisoned = True

    def _current(self) -> KafkaProducer:
        with self._lock:
            if not self._poisoned:
                return self._producer
            fresh = self._make()  # a broker that is down raises here, and we stay as we are
            old, self._producer, self._poisoned = self._producer, fresh, False
            self.renewals += 1
        log.warning("replaced the Kafka producer after the broker refused a record for good")
        # Whatever the old one still holds would fail with the same error anyway.
        old.close(timeout=0)
        return fresh

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            self._producer.close(timeout=timeout)


# What the services hold: a RenewingProducer, or in a test a KafkaProducer.
Producer: TypeAlias = RenewingProducer | KafkaProducer


def producer(settings: KafkaSettings | None = None, **overrides: Any) -> RenewingProducer:
    """An idempotent, acks=all producer: nothing acknowledged is lost; renewed after
    the broker refuses a record for good (see RenewingProducer)."""
    settings = settings or KafkaSettings()
    opts: dict[str, Any] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        # Retries bounded by time, not by count (KIP-91: leave retries unset, set
        # delivery.timeout.ms): five retries 100 ms apart gave up inside a leader
        # election after a broker's SIGKILL (seen in the fault suite), well before
        # the caller's own timeout. Idempotence keeps the retries free of copies.
        "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
        # kafka-python waits up to 30 s between reconnects by default: a broker
        # back from an outage would go unnoticed for that long.
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        **settings.kafka_python(),
    }
    opts.update(overrides)
    return RenewingProducer(lambda: KafkaProducer(**opts))


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


def send(producer_: Producer, topic: str, record: Record) -> Any:
    """Send one record; returns kafka-python's future."""
    return producer_.send(topic, key=record.key, value=record.value, headers=record.headers)


def send_all(producer_: Producer, sends: Iterable[tuple[str, Record]], timeout: float = 30) -> None:
    """Send records and wait until every one is acknowledged; raise on the first failure."""
    # Wait on these records only: flush() would also wait for other threads' sends.
    futures = [send(producer_, topic, record) for topic, record in sends]
    for f in futures:
        f.get(timeout=timeout)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) picks for a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


# How long to wait before asking again for partitions kafka-python left out of an
# offsets answer: it has asked for new metadata, which takes a round trip.
OFFSETS_RETRY_S = 0.1


def end_offsets(
    consumer: KafkaConsumer, partitions: Iterable[TopicPartition], timeout_ms: int = 30_000
) -> dict[TopicPartition, int]:
    """consumer.end_offsets, without kafka-python 3.0's KeyError.

    Its fetcher leaves a partition whose leader it does not know at that moment
    (during a leader election, or before this client has the topic's metadata)
    out of the requests it sends, then indexes the answer by it: a KeyError
    naming the partition, not a retry. The same client is asked again (the failed
    call requested the metadata) until `timeout_ms`, then KafkaTimeoutError."""
    return _offsets(consumer, list(partitions), timeout_ms, end=True)


def beginning_offsets(
    consumer: KafkaConsumer, partitions: Iterable[TopicPartition], timeout_ms: int = 30_000
) -> dict[TopicPartition, int]:
    """consumer.beginning_offsets, without the KeyError (see end_offsets)."""
    return _offsets(consumer, list(partitions), timeout_ms, end=False)


def _offsets(
    consumer: KafkaConsumer, tps: list[TopicPartition], timeout_ms: int, *, end: bool
) -> dict[TopicPartition, int]:
    if not tps:
        return {}
    deadline = time.monotonic() + timeout_ms / 1000
    ask = consumer.end_offsets if end else consumer.beginning_offsets
    while True:
        left_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        try:
            return dict(ask(tps, timeout_ms=left_ms))
        except KeyError as exc:
            if time.monotonic() + OFFSETS_RETRY_S >= deadline:
                raise KafkaTimeoutError(
                    f"no leader known for {exc.args[0] if exc.args else exc} within {timeout_ms} ms"
                ) from exc
            log.debug("offsets: no leader known yet for %s; asking again", exc)
            time.sleep(OFFSETS_RETRY_S)
