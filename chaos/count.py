"""Counting from the topics themselves: what is on the bus, what reached each
agency, and the consumer groups' lag. Nothing here trusts a service's own word."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError

from homeward.codec import Codec, Decoded
from homeward.kafka import end_offsets
from homeward.lag import committed_offsets, lag_by_partition
from homeward.settings import KafkaSettings

# What a kafka-python client left stale by a leader's move raises: a timeout (the
# offsets helper turns kafka-python 3.0's KeyError for a partition without a known
# leader into one, after asking again with the same client). A new client asks again.
STALE_CLIENT = (KafkaTimeoutError,)


@dataclass(frozen=True)
class Raw:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    decoded: Decoded | None


class Tail:
    """Keeps reading `topics` from the beginning; `catch_up()` reads to their current ends."""

    def __init__(self, settings: KafkaSettings, topics: Iterable[str]) -> None:
        self.codec = Codec()
        self.records: list[Raw] = []
        self.settings = settings
        self.topics = list(topics)
        self.next: dict[TopicPartition, int] = {}
        self.consumer = self._connect()

    def _connect(self) -> KafkaConsumer:
        consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            client_id=f"chaos-tail-{uuid.uuid4().hex[:6]}",
            # A broker comes back within seconds of its restart: look again that soon.
            reconnect_backoff_max_ms=2000,
            **self.settings.kafka_python(),
        )
        parts = []
        for t in self.topics:
            deadline = time.monotonic() + 30
            ps = consumer.partitions_for_topic(t)
            while not ps:
                if time.monotonic() > deadline:
                    raise LookupError(f"topic {t} has no partitions")
                consumer.poll(timeout_ms=100)
                ps = consumer.partitions_for_topic(t)
            parts += [TopicPartition(t, p) for p in sorted(ps)]
        self.parts = parts
        consumer.assign(parts)
        consumer.seek_to_beginning()
        for tp, offset in self.next.items():
            consumer.seek(tp, offset)
        return consumer

    def catch_up(self, timeout: float = 120) -> list[Raw]:
        """Read up to the ends as of now; the records new since the last call."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ends = end_offsets(self.consumer, self.parts)
                break
            except STALE_CLIENT:
                # A leader moved (a broker was killed); a client can stay stuck on the
                # old one's connection, so start a new one where this one was.
                if time.monotonic() > deadline:
                    raise
                self.consumer.close()
                self.consumer = self._connect()
        new: list[Raw] = []
        while any(self.consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {len(self.parts)} partitions to their ends")
            for tp, msgs in self.consumer.poll(timeout_ms=200).items():
                for m in msgs:
                    headers = tuple(m.headers or ())
                    try:
                        decoded: Decoded | None = self.codec.decode(m.value, headers)
                    except Exception:  # a poison record counts as raw, undecoded
                        decoded = None
                    new.append(
                        Raw(tp.topic, tp.partition, m.offset, m.key, m.value, headers, decoded)
                    )
                    self.next[tp] = m.offset + 1
        self.records += new
        return new

    def close(self) -> None:
        self.consumer.close()


def group_lag(
    admin: KafkaAdminClient, consumer: KafkaConsumer, group: str, topics: Iterable[str]
) -> int:
    """Records the group has not committed past, on the partitions of `topics` it commits."""
    wanted = set(topics)
    committed = committed_offsets(admin, group)
    parts = [tp for tp in committed if tp.topic in wanted]
    if not parts:
        return 0
    for topic in {tp.topic for tp in parts}:
        consumer.partitions_for_topic(topic)  # this client's metadata for the topic
    ends = end_offsets(consumer, parts)
    return sum(lag_by_partition(parts, committed, {}, ends).values())


def wait_lag_zero(
    settings: KafkaSettings, groups: dict[str, list[str]], *, timeout: float = 120
) -> float:
    """Seconds until each group's lag on its topics is 0 (a TimeoutError past `timeout`)."""
    t0 = time.monotonic()

    def connect() -> tuple[KafkaAdminClient, KafkaConsumer]:
        return (
            KafkaAdminClient(**settings.kafka_python()),
            KafkaConsumer(group_id=None, reconnect_backoff_max_ms=2000, **settings.kafka_python()),
        )

    # One admin and one consumer for the wait (it polls twice a second), new ones only
    # when a killed leader leaves them stuck on its old connection, as in Tail.catch_up.
    admin, consumer = connect()
    try:
        while True:
            try:
                lags = {g: group_lag(admin, consumer, g, topics) for g, topics in groups.items()}
            except STALE_CLIENT as exc:
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"lag unreadable after {timeout:.0f} s: {exc}") from exc
                consumer.close()
                admin.close()
                admin, consumer = connect()
                continue
            if not any(lags.values()):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"lag not back to 0 after {timeout:.0f} s: {lags}")
            time.sleep(0.5)  # polling the broker's committed offsets, not a synchronisation
    finally:
        consumer.close()
        admin.close()
