"""Reading the dead-letter topic and sending chosen dead letters back, after a fix.

A dead letter is the original record, bytes untouched, with dlq_* headers
(homeward.deadletter): why, and where it came from (the topic it was read from,
or, for a record parked by an emitter, the topic it was meant for). Replaying
one re-publishes the record to that topic without its dlq_* headers and with
who replayed it, then writes a replay marker on the dead-letter topic (the dead
letter's partition and offset, who, when, where to), so a second replay of
the same selection skips it.

Idempotent twice over: the command skips what a marker says was replayed (unless
asked to replay again), and the record keeps its CloudEvents id, which every
consumer already drops as a copy once handled (the referral router's and the
fan-out's `seen` ids, the agency SDK's and the gateway's delivery ids). A crash
between the record and its marker replays it once more at worst, and that copy
is dropped the same way.

Only topics of the topology are written to, and never a topic less sensitive
than the record's own classification (a dead letter's headers come from its
writer, who could name any topic): a refused one is reported, not sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition

from homeward import deadletter as dlq
from homeward import kafka as hkafka
from homeward.codec import Record
from homeward.errors import ConfigError
from homeward.events import Classification
from homeward.settings import KafkaSettings
from homeward.topology import Topology

# On a replay marker (a record of the dead-letter topic, empty key and value).
REPLAY_OF = "dlq_replay_of"  # "<partition>:<offset>" of the dead letter replayed
REPLAYED_BY = "dlq_replayed_by"
REPLAYED_AT = "dlq_replayed_at"
REPLAYED_TO = "dlq_replayed_to"
# On the re-published record: who sent it back (CloudEvents readers ignore it).
REPLAY_HEADER = "homeward_replayedby"

SENSITIVITY = {
    Classification.PUBLIC: 0,
    Classification.RESTRICTED: 1,
    Classification.POLICE_ONLY: 2,
}


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        return dict(self.headers).get(name, b"").decode("utf-8", "replace")

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        field_, reason = self.header(dlq.FIELD), self.header(dlq.REASON)
        return f"{field_}: {reason}" if field_ else reason

    @property
    def origin(self) -> str:
        return self.header(dlq.TOPIC)

    @property
    def service(self) -> str:
        return self.header(dlq.SERVICE)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def record(self, actor: str) -> Record:
        """The original record as it is sent back: no dlq_* headers, and who sent it."""
        kept = [(k, v) for k, v in self.headers if not k.startswith("dlq_") and k != REPLAY_HEADER]
        return Record(self.key, self.value, [*kept, (REPLAY_HEADER, actor.encode())])


@dataclass
class Letters:
    """Everything on the dead-letter topic now: the dead letters, and which were
    replayed (ref -> the markers' "who at when")."""

    letters: list[DeadLetter] = field(default_factory=list)
    replayed: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Selection:
    """Which dead letters: every given filter must hold."""

    reason: str | None = None  # a part of the reason (field: reason), any case
    origin: str | None = None  # the origin topic, by name or topology id
    service: str | None = None
    since: datetime | None = None  # when dead-lettered, inclusive
    until: datetime | None = None  # exclusive
    partition: int | None = None  # of the dead-letter topic
    from_offset: int | None = None  # inclusive, of the dead-letter topic
    to_offset: int | None = None  # inclusive

    def holds(self, d: DeadLetter, topology: Topology) -> bool:
        if self.reason and self.reason.lower() not in d.reason.lower():
            return False
        if self.origin and d.origin != origin_name(self.origin, topology):
            return False
        if self.service and d.service != self.service:
            return False
        if self.since and d.at < self.since:
            return False
        if self.until and d.at >= self.until:
            return False
        if self.partition is not None and d.partition != self.partition:
            return False
        if self.from_offset is not None and d.offset < self.from_offset:
            return False
        return self.to_offset is None or d.offset <= self.to_offset


def origin_name(origin: str, topology: Topology) -> str:
    """A topic's name from its topology id (`alert_events`, `inbox.health`), or as given."""
    try:
        return topology.get(origin).name
    except ConfigError:  # not an id: taken as a topic name
        return origin


def read(settings: KafkaSettings, topic: str, timeout_seconds: float = 30.0) -> Letters:
    """The dead-letter topic from its start to its end as of now."""
    consumer = hkafka.consumer(settings, group_id=None, consumer_timeout_ms=1000)
    out = Letters()
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        if not parts:
            raise LookupError(f"topic {topic} not found (or not readable by this principal)")
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = hkafka.end_offsets(consumer, tps, int(timeout_seconds * 1000))
        while any((consumer.position(tp) or 0) < ends[tp] for tp in tps):
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for rec in batch:
                    if rec.offset >= ends[tp]:
                        continue
                    _take(out, tp.partition, rec)
    finally:
        consumer.close()
    return out


def _take(out: Letters, partition: int, rec: Any) -> None:
    headers = tuple((k, v or b"") for k, v in rec.headers or [])
    h = dict(headers)
    if REPLAY_OF in h:
        who = f"{h.get(REPLAYED_BY, b'').decode()} at {h.get(REPLAYED_AT, b'').decode()}"
        out.replayed.setdefault(h[REPLAY_OF].decode(), []).append(who)
        return
    out.letters.append(
        DeadLetter(partition, rec.offset, rec.timestamp, rec.key or b"", rec.value or b"", headers)
    )


def summary(letters: Iterable[DeadLetter], replayed: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Counts by origin topic, service and reason (with how many were replayed)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    done: Counter[tuple[str, str, str]] = Counter()
    for d in letters:
        k = (d.origin, d.service, d.reason)
        counts[k] += 1
        done[k] += d.ref in replayed
    return [
        {"origin": o, "service": s, "reason": r, "count": n, "replayed": done[o, s, r]}
        for (o, s, r), n in sorted(counts.items())
    ]


@dataclass
class ReplayReport:
    sent: list[str] = field(default_factory=list)  # refs
    skipped: list[str] = field(default_factory=list)  # replayed before
    refused: list[tuple[str, str]] = field(default_factory=list)  # (ref, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "skipped_already_replayed": self.skipped,
            "refused": [{"ref": r, "why": w} for r, w in self.refused],
        }


def target(d: DeadLetter, topology: Topology) -> str:
    """Where the dead letter goes back to; ValueError says why it may not."""
    by_name = {t.name: t for t in topology.all()}
    topic = by_name.get(d.origin)
    if topic is None:
        raise ValueError(f"origin {d.origin!r} is not a topic of the topology")
    if topic.internal or topic.id == "dead_letters":
        raise ValueError(f"origin {d.origin!r} is not a topic records are replayed to")
    raw = dict(d.headers).get("ce_classification")
    if raw is not None:
        try:
            classification = Classification(raw.decode())
        except ValueError:
            raise ValueError(f"unknown ce_classification {raw!r}") from None
        if SENSITIVITY[classification] > SENSITIVITY[topic.classification]:
            raise ValueError(
                f"a {classification.value} record may not go to "
                f"{topic.classification.value} topic {topic.name}"
            )
    return topic.name


def replay(
    settings: KafkaSettings,
    topology: Topology,
    selection: Selection,
    *,
    actor: str,
    again: bool = False,
    dry_run: bool = False,
    letters: Letters | None = None,
) -> ReplayReport:
    """Send every selected dead letter back to its origin topic (see the module)."""
    dead_topic = topology.get("dead_letters").name
    found = letters or read(settings, dead_topic)
    report = ReplayReport()
    chosen: list[tuple[DeadLetter, str]] = []
    for d in found.letters:
        if not selection.holds(d, topology):
            continue
        if d.ref in found.replayed and not again:
            report.skipped.append(d.ref)
            continue
        try:
            chosen.append((d, target(d, topology)))
        except ValueError as exc:
            report.refused.append((d.ref, str(exc)))
    if dry_run or not chosen:
        report.sent = [d.ref for d, _ in chosen] if dry_run else []
        return report
    producer = hkafka.producer(settings)
    try:
        for d, topic in chosen:
            # The record first, its marker second: a crash between the two
            # replays it again next time, and consumers drop that copy by its id.
            hkafka.send_all(producer, [(topic, d.record(actor))])
            marker = Record(b"", b"", list(_marker(d, actor, topic)))
            hkafka.send_all(producer, [(dead_topic, marker)])
            report.sent.append(d.ref)
    finally:
        producer.close(timeout=10)
    return report


def _marker(d: DeadLetter, actor: str, topic: str) -> Iterator[tuple[str, bytes]]:
    yield REPLAY_OF, d.ref.encode()
    yield REPLAYED_BY, actor.encode()
    yield REPLAYED_AT, datetime.now(UTC).isoformat(timespec="milliseconds").encode()
    yield REPLAYED_TO, topic.encode()
    # Where the dead letter came from, so the marker reads on its own in a dump.
    yield dlq.TOPIC, d.origin.encode()
    yield dlq.REASON, b"replay marker: " + d.reason.encode()[:900]


def as_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
