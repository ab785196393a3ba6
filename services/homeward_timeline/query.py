"""The case timeline: every event of one case, in order, alert to referrals,
from what the services keep in Kafka (no database of its own).

All the case topics are keyed by case id and co-partitioned, so one case's
events sit on the one partition its id hashes to, in each topic. A query
reads only that partition of each topic, from the beginning to the end
offsets taken when it starts (a fixed snapshot, so it always ends), keeps the
records keyed by the case, decodes them (counting, not failing on, those it
cannot) and orders them by ce_time, then topic and offset.

Police-only entries (a police-only record, or any record on a police.* topic:
a police answer's note may hold DNA data) show only their type and time
unless the caller has police clearance. Without it, a referral's line names
the agency type but not the agency: where a referral is, the victim is
(a welfare placement is the shelter).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from kafka import TopicPartition
from kafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field

from homeward import kafka as hkafka
from homeward.codec import Codec
from homeward.errors import HomewardError
from homeward.events import CaseOutcomeRecorded, Classification
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_timeline.summary import summarize

# Alert to referrals: the case-keyed topics that hold a case's history.
TIMELINE_TOPICS = (
    "alert_events",
    "alert_acks",
    "rescues",
    "referral_events",
    "police_referrals",
    "police_case_outcomes",
)
POLL_MS = 200


class TimelineUnavailable(HomewardError):
    """Kafka could not be reached, or the partitions not read in time."""


class Entry(BaseModel):
    """One event of the case. Redacted entries keep only time, type and classification."""

    model_config = ConfigDict(frozen=True)

    time: datetime = Field(description="ce_time: when Homeward accepted the event.")
    topic: str | None
    type: str = Field(description="ce_type, e.g. homeward.referrals.ReferralStatusChanged.")
    event_id: str | None = Field(description="ce_id.")
    source: str | None = Field(description="ce_source: who emitted it.")
    classification: Classification = Field(
        description="The record's ce_classification, or police-only for any record on a "
        "police.* topic."
    )
    causation_id: str | None = Field(description="ce_causationid: the event that caused it.")
    summary: str | None = Field(
        description="One line: statuses, agencies, services; never a person's name, DNA data "
        "or notes. None on a police-only entry without police clearance."
    )


class Timeline(BaseModel):
    case_id: str
    clearance: Literal["police", "judicial", "none"]
    partitions: dict[str, int] = Field(description="Topic -> the partition read (the case's).")
    entries: list[Entry]
    records_read: int = Field(description="Records read on those partitions, any case.")
    skipped: int = Field(description="Records keyed by the case that could not be decoded.")


class RawRecord(Protocol):
    """The parts of a kafka-python ConsumerRecord the timeline reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None


@dataclass(frozen=True)
class Snapshot:
    """What one read of the case's partitions returned."""

    records: list[Any]
    partitions: dict[str, int]


def assemble(
    case_id: str,
    records: Iterable[RawRecord],
    *,
    police: bool,
    police_topics: frozenset[str] = frozenset(),
    partitions: dict[str, int] | None = None,
    codec: Codec | None = None,
    judicial: bool = False,
) -> Timeline:
    """The timeline from records already read (pure: no Kafka here).

    `judicial`: the caller is of the procuratorate or the court; it sees the
    case's outcomes in full, and every other police-only entry as police
    clearance would not."""
    codec = codec or Codec()
    key = case_id.encode("utf-8")
    rows: list[tuple[tuple[datetime, str, int], Entry]] = []
    read = skipped = 0
    for rec in records:
        read += 1
        if rec.key != key:
            continue
        try:
            decoded = codec.decode(rec.value, rec.headers)
        except Exception:  # counted, never fatal: one bad record must not hide a case
            skipped += 1
            continue
        meta = decoded.meta
        hidden = meta.classification is Classification.POLICE_ONLY or rec.topic in police_topics
        classification = Classification.POLICE_ONLY if hidden else meta.classification
        cleared = police or (judicial and isinstance(decoded.event, CaseOutcomeRecorded))
        if hidden and not cleared:
            entry = Entry(
                time=meta.time,
                topic=None,
                type=meta.type,
                event_id=None,
                source=None,
                classification=classification,
                causation_id=None,
                summary=None,
            )
        else:
            entry = Entry(
                time=meta.time,
                topic=rec.topic,
                type=meta.type,
                event_id=meta.id,
                source=meta.source,
                classification=classification,
                causation_id=meta.causation_id,
                summary=summarize(decoded.event, police=cleared),
            )
        rows.append(((meta.time, rec.topic, rec.offset), entry))
    rows.sort(key=lambda row: row[0])
    return Timeline(
        case_id=case_id,
        clearance="police" if police else "judicial" if judicial else "none",
        partitions=dict(partitions or {}),
        entries=[entry for _order, entry in rows],
        records_read=read,
        skipped=skipped,
    )


class TimelineQuery:
    """Reads a case's partitions on the broker and assembles its timeline.

    One short-lived consumer per query (no group, nothing committed): queries
    are rare, and nothing is shared between threads, so the HTTP route may run
    several at once in its thread pool."""

    def __init__(
        self,
        settings: KafkaSettings | None = None,
        topology: Topology | None = None,
        *,
        codec: Codec | None = None,
        timeout_seconds: float = 30.0,
        topic_ids: Sequence[str] = TIMELINE_TOPICS,
    ) -> None:
        self.settings = settings or KafkaSettings()
        self.topology = topology or Topology.load(prefix=self.settings.topic_prefix)
        self.codec = codec or Codec()
        self.timeout = timeout_seconds
        self.topics = [self.topology.get(t).name for t in topic_ids]
        self.police_topics = frozenset(
            self.topology.get(t).name
            for t in topic_ids
            if self.topology.get(t).classification is Classification.POLICE_ONLY
        )

    def __call__(self, case_id: str, *, police: bool = False, judicial: bool = False) -> Timeline:
        snapshot = self.read(case_id)
        return assemble(
            case_id,
            snapshot.records,
            police=police,
            police_topics=self.police_topics,
            partitions=snapshot.partitions,
            codec=self.codec,
            judicial=judicial,
        )

    def read(self, case_id: str) -> Snapshot:
        """Every record of the case's partition of each topic, up to the ends taken now."""
        deadline = time.monotonic() + self.timeout
        timeout_ms = int(self.timeout * 1000)
        try:
            consumer = hkafka.consumer(
                self.settings,
                group_id=None,
                client_id="homeward-timeline",
                bootstrap_timeout_ms=timeout_ms,
                request_timeout_ms=max(timeout_ms, 1000),
            )
        except KafkaError as exc:
            raise TimelineUnavailable(f"cannot reach Kafka: {exc}", field="kafka") from exc
        try:
            return self._read(consumer, case_id.encode("utf-8"), deadline)
        except KafkaError as exc:
            raise TimelineUnavailable(f"{type(exc).__name__}: {exc}", field="kafka") from exc
        finally:
            consumer.close()

    def _read(self, consumer: Any, key: bytes, deadline: float) -> Snapshot:
        partitions: dict[str, int] = {}
        for topic in self.topics:
            # The broker's count, not the declaration's: producers hash over what exists.
            found = consumer.partitions_for_topic(topic)
            if not found:
                raise TimelineUnavailable(
                    "topic not found; apply the topology first", field=f"topics.{topic}"
                )
            partitions[topic] = hkafka.partition_for(key, len(found))
        tps = [TopicPartition(t, p) for t, p in partitions.items()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = hkafka.end_offsets(consumer, tps, self._left_ms(deadline))
        records: list[Any] = []
        while True:
            behind = [
                tp
                for tp in tps
                if (consumer.position(tp, timeout_ms=self._left_ms(deadline)) or 0) < ends[tp]
            ]
            if not behind:
                return Snapshot(records, partitions)
            if time.monotonic() > deadline:
                raise TimelineUnavailable(
                    f"{len(behind)} partition(s) not read to their end in {self.timeout:g}s",
                    field="kafka",
                )
            for tp, batch in consumer.poll(timeout_ms=POLL_MS).items():
                # Stop at the snapshot's end: later records are the next query's.
                records.extend(r for r in batch if r.offset < ends[tp])

    @staticmethod
    def _left_ms(deadline: float) -> int:
        return max(int((deadline - time.monotonic()) * 1000), 1)
