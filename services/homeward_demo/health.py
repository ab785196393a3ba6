"""The demo's hospital stream: two fictional hospitals record a dozen
consistent births through the health SDK, plus five planted anomalies; the
police side reads police.anomalies.v1 until the detector has raised each.

An anomaly "finds" a planted one when its rule is the planted rule and it
cites one of the records that prove it (or names the planted mother). One
planted record may break more than one rule (a certificate citing another
mother's delivery also has no delivery of its own mother): those anomalies
cite planted records and are not false alarms. A false alarm is an anomaly
that cites no planted record at all.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from homeward.codec import Codec
from homeward.events import HealthAnomalyDetected
from homeward.events.base import utcnow
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_health import HealthRecorder, key_of
from homeward_health.recorder import event_id_of
from homeward_health.synthetic import DEMO_HOSPITALS, KINDS, Planted, birth, planted

BIRTHS = 12
# The detector's settings in the demo: decide a "missing" rule 4 s after the
# record (6 h by default), and look at the clock twice a second.
LATENESS = "PT4S"
TICK_INTERVAL = "0.5"


@dataclass
class HealthPlay:
    published: int = 0
    planted: list[Planted] = field(default_factory=list)
    planted_ids: set[str] = field(default_factory=set)  # every record of a planted group
    planted_subjects: set[str] = field(default_factory=set)


def play(recorder: HealthRecorder, say: Callable[[str], None]) -> HealthPlay:
    """Publish the births and the planted anomalies, each group as one batch."""
    out = HealthPlay()
    # Every birth began in the last half day, so all is in the past and in every window.
    start = utcnow() - timedelta(hours=12)
    for i in range(BIRTHS):
        records = birth(
            f"DEMO{i + 1:02d}", DEMO_HOSPITALS[i % 2], start + timedelta(minutes=10 * i)
        )
        out.published += len(recorder.record_many(records))
    reused = f"CERT-DEMO{1:02d}"
    for n, kind in enumerate(KINDS, start=1):
        group = planted(kind, f"DEMOP{n}", DEMO_HOSPITALS, start + timedelta(hours=1), reused)
        out.published += len(recorder.record_many(group.records))
        out.planted.append(group)
        out.planted_ids |= {event_id_of(r) for r in group.records}
        out.planted_subjects |= {key_of(r) for r in group.proof}
    say(
        f"hospital stream: {out.published} records from {len(DEMO_HOSPITALS)} hospitals "
        f"({BIRTHS} births, {len(out.planted)} planted anomalies: {', '.join(KINDS)})"
    )
    return out


def found_by(group: Planted, anomaly: HealthAnomalyDetected) -> bool:
    if anomaly.rule != group.rule:
        return False
    proof = {event_id_of(r) for r in group.proof}
    return bool(proof & set(anomaly.evidence)) or anomaly.subject_id_number in {
        key_of(r) for r in group.proof
    }


class AnomalyWatch:
    """Police reading police.anomalies.v1 from the start, each anomaly once."""

    def __init__(self, settings: KafkaSettings, topology: Topology) -> None:
        self.topic = topology.get("anomalies").name
        self.codec = Codec()
        self.consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            client_id="homeward-demo-anomalies",
            **settings.kafka_python(),
        )
        self.anomalies: dict[str, HealthAnomalyDetected] = {}  # anomaly id -> anomaly
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-anomalies", daemon=True)

    def start(self) -> AnomalyWatch:
        deadline = time.monotonic() + 30
        parts = self.consumer.partitions_for_topic(self.topic)
        while not parts and time.monotonic() < deadline:
            self.consumer.poll(timeout_ms=100)
            parts = self.consumer.partitions_for_topic(self.topic)
        self.consumer.assign([TopicPartition(self.topic, p) for p in parts or ()])
        self.consumer.seek_to_beginning()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for msgs in self.consumer.poll(timeout_ms=200).values():
                for m in msgs:
                    try:
                        event = self.codec.decode(m.value, list(m.headers or [])).event
                    except Exception:
                        continue  # not ours to judge here; the detector dead-letters
                    if isinstance(event, HealthAnomalyDetected):
                        with self.lock:
                            # The anomaly id is deterministic: a repeat is the same one.
                            self.anomalies.setdefault(event.case_id, event)

    def snapshot(self) -> list[HealthAnomalyDetected]:
        with self.lock:
            return list(self.anomalies.values())

    def wait_for(
        self, play: HealthPlay, timeout: float, say: Callable[[str], None]
    ) -> list[HealthAnomalyDetected]:
        """Until every planted anomaly is seen (or the deadline); the anomalies seen."""
        deadline = time.monotonic() + timeout
        announced: set[str] = set()
        while True:
            seen = self.snapshot()
            for group in play.planted:
                hit = next((a for a in seen if found_by(group, a)), None)
                if hit is not None and group.name not in announced:
                    announced.add(group.name)
                    say(
                        f"police see anomaly {hit.rule.value} ({hit.severity.value}) at {hit.hospital_id}"
                    )
            if len(announced) == len(play.planted) or time.monotonic() > deadline:
                return seen
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.consumer.close()


def figures(play: HealthPlay, anomalies: list[HealthAnomalyDetected]) -> dict[str, Any]:
    found = [g.name for g in play.planted if any(found_by(g, a) for a in anomalies)]
    false_alarms = [
        a
        for a in anomalies
        if not (set(a.evidence) & play.planted_ids)
        and a.subject_id_number not in play.planted_subjects
    ]
    return {
        "health_records_published": play.published,
        "anomalies_by_rule": dict(sorted(Counter(a.rule.value for a in anomalies).items())),
        "planted": [g.name for g in play.planted],
        "planted_found": found,
        "false_alarms": len(false_alarms),
    }
