"""The sequencer: a plain kafka-python consumer of group homeward-audit over
audit.entries.v1. For each input partition p it owns it appends to partition p
of audit.log.v1 a chained record per entry, and now and then a signed
checkpoint; it commits input offsets only once the broker acknowledged the
output, so a crash re-reads at most what was not yet on the log, and entries
already chained (their entry id is in the tail read back) are dropped.

One sequencer owns a partition at a time (the consumer group). The loop is
single-threaded and waits for every ack before it polls again, so when a
rebalance revokes a partition (inside poll) nothing of it is in flight; the
new owner resumes from the output tail it reads back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from homeward import kafka
from homeward.audit.chain import GENESIS, Chained, Checkpoint, Signer, chain_next
from homeward.codec import Codec, Record
from homeward.errors import CodecError, ConfigError
from homeward.events.audit import AuditChained, AuditCheckpoint, AuditEntry
from homeward.metric_labels import field_label
from homeward.metrics import (
    AUDIT_CHAIN_SEQ,
    AUDIT_CHAINED,
    AUDIT_CHECKPOINTS,
    AUDIT_DUPLICATES,
    AUDIT_UNREADABLE,
)
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_audit import logio
from homeward_audit.settings import AuditSettings

log = logging.getLogger(__name__)


# Longer than a healthy rebalance of one small group takes, even on a loaded machine.
REJOIN_STALL_SECONDS = 15.0


def _rejoining(consumer: KafkaConsumer) -> bool:
    """The consumer's group membership is being re-established (kafka-python's
    coordinator: no public accessor)."""
    coordinator: Any = getattr(consumer, "_coordinator", None)
    return bool(coordinator is not None and getattr(coordinator, "rejoining", False))


@dataclass
class PartitionState:
    """The head of one output partition's chain and what it already holds."""

    partition: int
    next_seq: int = 0
    head: Chained | Checkpoint | None = None  # what the next entry chains to
    seen: deque[str] = field(default_factory=deque)
    seen_set: set[str] = field(default_factory=set)
    uncovered: int = 0  # entries after the last checkpoint
    checkpoint_due: float = 0.0  # monotonic time

    @property
    def prev_hash(self) -> str:
        return self.head.hash if self.head else GENESIS

    def remember(self, entry_id: str, keep: int) -> None:
        self.seen.append(entry_id)
        self.seen_set.add(entry_id)
        while len(self.seen) > keep:
            self.seen_set.discard(self.seen.popleft())


def resume(partition: int, tail: list[Chained | Checkpoint], keep: int) -> PartitionState:
    """The state of a partition from its last records (oldest first)."""
    state = PartitionState(partition)
    for item in tail:
        if isinstance(item, Chained):
            state.remember(item.entry.entry_id, keep)
            state.uncovered += 1
        else:
            state.uncovered = 0
        state.head = item
        state.next_seq = item.seq + 1
    return state


class Sequencer:
    def __init__(
        self,
        settings: AuditSettings,
        kafka_settings: KafkaSettings,
        signer: Signer,
        *,
        topology: Topology | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.settings = settings
        self.kafka = kafka_settings
        self.signer = signer
        topology = topology or Topology.load(prefix=kafka_settings.topic_prefix)
        self.entries_topic = topology.get("audit_entries").name
        self.log_topic = topology.get("audit_log").name
        self.codec = codec or Codec()
        self.states: dict[int, PartitionState] = {}
        self.joined = threading.Event()
        self.alive_at = time.monotonic()
        self._producer: kafka.Producer | None = None
        self._consumer: KafkaConsumer | None = None
        self._tail_reader: KafkaConsumer | None = None

    def loop_ok(self, stalled_after: float = 120.0) -> bool:
        """The loop came round lately (a poll returns within a second when idle)."""
        return time.monotonic() - self.alive_at < stalled_after

    # -- assignment ----------------------------------------------------------------
    def _load(self, partitions: list[int]) -> None:
        assert self._tail_reader is not None
        for p in partitions:
            tp = TopicPartition(self.log_topic, p)
            end = kafka.end_offsets(self._tail_reader, [tp])[tp]
            begin = kafka.beginning_offsets(self._tail_reader, [tp])[tp]
            start = max(begin, end - self.settings.tail_records)
            tail = list(logio.read_range(self._tail_reader, self.codec, tp, start, end))
            self.states[p] = state = resume(p, tail, self.settings.tail_records)
            state.checkpoint_due = time.monotonic() + self.settings.checkpoint_seconds
            log.info(
                "partition %d: resuming at seq %d (%d records read back)",
                p,
                state.next_seq,
                len(tail),
            )

    def _check_partitions(self) -> None:
        assert self._tail_reader is not None
        ins = self._tail_reader.partitions_for_topic(self.entries_topic) or set()
        outs = self._tail_reader.partitions_for_topic(self.log_topic) or set()
        if not ins or ins != outs:
            raise ConfigError(
                f"{self.entries_topic} has {len(ins)} partitions and {self.log_topic} "
                f"{len(outs)}: partition p of one feeds partition p of the other, so they "
                "must be equal (and not zero)",
                field="topics.audit_log.partitions",
            )

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self._producer = kafka.producer(self.kafka)
        self._tail_reader = logio.reader(self.kafka)
        self._check_partitions()
        seq = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
                for tp in revoked:
                    seq.states.pop(tp.partition, None)

            def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
                seq._load(sorted(tp.partition for tp in assigned))
                seq.joined.set()

        self._consumer = self._join(Listener())
        stalled_since: float | None = None
        try:
            while not stop.is_set():
                self.alive_at = time.monotonic()
                batch = self._consumer.poll(timeout_ms=200)
                self._handle(batch)
                self._checkpoint_due()
                # kafka-python 3.0 can hang in a rejoin (the leader's assignment
                # never completes; seen in CI for minutes): a consumer rejoining for
                # longer than a rebalance takes is closed and a new one joins afresh.
                if _rejoining(self._consumer):
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > REJOIN_STALL_SECONDS:
                        log.warning("group rejoin stalled; joining again with a new consumer")
                        self._consumer.close(autocommit=False)
                        self.states.clear()
                        self._consumer = self._join(Listener())
                        stalled_since = None
                else:
                    stalled_since = None
        finally:
            self._consumer.close(autocommit=False)
            self._tail_reader.close()
            self._producer.close(timeout=10)

    def _join(self, listener: ConsumerRebalanceListener) -> KafkaConsumer:
        consumer = kafka.consumer(
            self.kafka,
            # Under the topic prefix, like every group: the grants are per prefix.
            group_id=self.kafka.topic_prefix + self.settings.group_id,
            max_poll_records=self.settings.max_poll_records,
            session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
            heartbeat_interval_ms=3000,
        )
        consumer.subscribe([self.entries_topic], listener=listener)
        return consumer

    def _handle(self, batch: dict[TopicPartition, list[Any]]) -> None:
        if not batch:
            return
        assert self._producer is not None and self._consumer is not None
        futures: list[Any] = []
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, records in batch.items():
            state = self.states[tp.partition]
            for r in records:
                futures.extend(self._append(state, r))
            commits[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            if state.uncovered >= self.settings.checkpoint_every:
                futures.append(self._sign(state))
        # Every output acknowledged before any input offset is committed: a
        # failure raises here, the process dies, and its successor resumes from the tail.
        for f in futures:
            f.get(timeout=30)
        self._consumer.commit(commits)

    def _append(self, state: PartitionState, r: Any) -> list[Any]:
        try:
            event = self.codec.decode(r.value, r.headers).event
            if not isinstance(event, AuditEntry):
                raise CodecError(f"{type(event).__name__} is not an audit entry", field="value")
        except CodecError as exc:
            # Nothing to chain; the skip is logged and counted (it is visible
            # on the input topic, which is kept forever).
            AUDIT_UNREADABLE.labels(field_label(exc.field)).inc()
            log.warning("partition %d offset %d skipped: %s", r.partition, r.offset, exc)
            return []
        entry = event.to_entry()
        label = str(state.partition)
        if entry.entry_id in state.seen_set:
            AUDIT_DUPLICATES.labels(label).inc()
            return []
        item = chain_next(state.partition, state.next_seq, state.prev_hash, entry)
        wire = AuditChained(
            case_id=event.case_id,
            partition=item.partition,
            seq=item.seq,
            prev_hash=item.prev_hash,
            hash=item.hash,
            entry=event,
        )
        future = self._send(state.partition, wire, event.case_id, entry.entry_id)
        state.head, state.next_seq = item, item.seq + 1
        state.remember(entry.entry_id, self.settings.tail_records)
        state.uncovered += 1
        AUDIT_CHAINED.labels(label).inc()
        AUDIT_CHAIN_SEQ.labels(label).set(item.seq)
        return [future]

    def _sign(self, state: PartitionState) -> Any:
        head = state.head
        assert isinstance(head, Chained)
        cp = self.signer.checkpoint(head, datetime.now(UTC))
        wire = AuditCheckpoint(
            case_id=f"checkpoint:{cp.partition}",
            partition=cp.partition,
            seq=cp.seq,
            hash=cp.hash,
            at=cp.at,
            key_id=cp.key_id,
            signature=cp.signature,
        )
        state.head = cp
        state.uncovered = 0
        state.checkpoint_due = time.monotonic() + self.settings.checkpoint_seconds
        AUDIT_CHECKPOINTS.labels(str(state.partition)).inc()
        return self._send(state.partition, wire, wire.case_id, None, time=cp.at)

    def _send(
        self, partition: int, event: Any, key: str, event_id: str | None, time: Any = None
    ) -> Any:
        assert self._producer is not None
        record: Record
        record, _ = self.codec.encode(
            event, key=key, source=self.settings.source, event_id=event_id, time=time
        )
        return self._producer.send(
            self.log_topic,
            key=record.key,
            value=record.value,
            headers=record.headers,
            partition=partition,
        )

    def _checkpoint_due(self) -> None:
        now = time.monotonic()
        futures = [
            self._sign(s)
            for s in list(self.states.values())
            if s.uncovered and isinstance(s.head, Chained) and now >= s.checkpoint_due
        ]
        for f in futures:
            f.get(timeout=30)
