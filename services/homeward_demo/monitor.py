"""Watches the bus the way an operator would: every inbox, the alert stream,
the acknowledgements and the referral log, read from the start of the demo's
topics. Gives the live progress lines and the figures of the summary."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    DeliveryEscalated,
    RadiusExpanded,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    ReportOverdue,
    TaskStatus,
)
from homeward.events.alerts import DELIVERY_KIND
from homeward.settings import KafkaSettings
from homeward.topology import Topology


@dataclass(frozen=True)
class Seen:
    agency_id: str
    agency_type: str
    kind: str  # the delivered event's short name
    ring_km: int
    attempt: int
    source_event_id: str
    latency_ms: float  # inbox record CreateTime - intake acceptance


@dataclass
class ReferralSeen:
    """One referral as the router's log tells it."""

    case_id: str
    rule_id: str
    agency_type: str
    agency_id: str
    status: TaskStatus
    offers: int
    requested_at: float  # epoch seconds of the first request
    first_answer_at: float | None = None
    history: list[str] = field(default_factory=list)


@dataclass
class Observed:
    deliveries: dict[str, Seen] = field(default_factory=dict)  # delivery id -> first copy
    copies: int = 0
    resends: int = 0
    acked: set[str] = field(default_factory=set)
    escalations: list[DeliveryEscalated] = field(default_factory=list)
    expansions: list[tuple[float, int]] = field(default_factory=list)  # (time, radius)
    referrals: dict[str, ReferralSeen] = field(default_factory=dict)  # referral id -> state
    referral_deliveries: list[ReferralRequested] = field(default_factory=list)
    overdue: list[ReferralOverdue] = field(default_factory=list)
    referral_escalations: list[ReferralEscalated] = field(default_factory=list)
    cancellations: dict[str, str] = field(default_factory=dict)  # case id -> AlertCancelled ce_id
    reports_overdue: dict[str, ReportOverdue] = field(default_factory=dict)  # report id -> notice

    def referral(self, case_id: str, rule_id: str) -> ReferralSeen | None:
        for r in self.referrals.values():
            if (r.case_id, r.rule_id) == (case_id, rule_id):
                return r
        return None

    def reached(self, source_event_id: str) -> set[str]:
        return {
            s.agency_id for s in self.deliveries.values() if s.source_event_id == source_event_id
        }


class Monitor:
    def __init__(self, settings: KafkaSettings, topology: Topology) -> None:
        self.codec = Codec()
        self.topics = [topology.inbox(t).name for t in AgencyType]
        self.topics += [
            topology.get("alert_events").name,
            topology.get("alert_acks").name,
            topology.get("referral_events").name,
        ]
        self.consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            client_id="homeward-demo-monitor",
            **settings.kafka_python(),
        )
        self.obs = Observed()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-monitor", daemon=True)

    def start(self) -> Monitor:
        parts = []
        for t in self.topics:
            ps = self.consumer.partitions_for_topic(t)
            deadline = time.monotonic() + 30
            while not ps and time.monotonic() < deadline:
                self.consumer.poll(timeout_ms=100)
                ps = self.consumer.partitions_for_topic(t)
            parts += [TopicPartition(t, p) for p in ps or ()]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for msgs in self.consumer.poll(timeout_ms=200).values():
                for m in msgs:
                    try:
                        d = self.codec.decode(m.value, list(m.headers or []))
                    except Exception:
                        continue
                    self._take(d.event, m.timestamp, d.meta.id)

    def _take(self, event: object, timestamp_ms: int, event_id: str = "") -> None:
        with self.lock:
            o = self.obs
            if isinstance(event, AlertDelivery):
                o.copies += 1
                if event.attempt > 1:
                    o.resends += 1
                if event.delivery_id not in o.deliveries:
                    o.deliveries[event.delivery_id] = Seen(
                        event.agency_id,
                        event.agency_type,
                        DELIVERY_KIND[event.event.avro_name],
                        event.ring_km,
                        event.attempt,
                        event.source_event_id,
                        timestamp_ms - event.accepted_at.timestamp() * 1000,
                    )
            elif isinstance(event, AgencyAcknowledgement):
                o.acked.add(event.delivery_id)
            elif isinstance(event, DeliveryEscalated):
                o.escalations.append(event)
            elif isinstance(event, AlertCancelled):
                o.cancellations.setdefault(event.case_id, event_id)
            elif isinstance(event, RadiusExpanded):
                o.expansions.append((time.monotonic(), event.radius_km))
            elif isinstance(event, ReferralRequested):
                o.referral_deliveries.append(event)
            elif isinstance(event, ReferralStatusChanged):
                self._referral_step(event)
            # The router sends these to the office's inbox and to its log: count once.
            elif isinstance(event, ReferralOverdue):
                key = (event.referral_id, event.offer, event.phase)
                if key not in {(x.referral_id, x.offer, x.phase) for x in o.overdue}:
                    o.overdue.append(event)
            elif isinstance(event, ReportOverdue):
                o.reports_overdue.setdefault(event.case_id, event)
            elif isinstance(event, ReferralEscalated):
                known = {x.referral_id for x in o.referral_escalations}
                if event.referral_id not in known:
                    o.referral_escalations.append(event)

    def _referral_step(self, e: ReferralStatusChanged) -> None:
        at = e.changed_at.timestamp()
        seen = self.obs.referrals.get(e.referral_id)
        if seen is None:
            seen = self.obs.referrals[e.referral_id] = ReferralSeen(
                e.case_id, e.rule_id, e.agency_type, e.agency_id, e.status, e.offer, at
            )
        seen.status, seen.agency_id, seen.offers = e.status, e.agency_id, e.offer
        seen.history.append(e.status.value)
        if e.status != TaskStatus.REQUESTED and seen.first_answer_at is None:
            seen.first_answer_at = at

    def snapshot(self) -> Observed:
        with self.lock:
            o = self.obs
            return Observed(
                dict(o.deliveries),
                o.copies,
                o.resends,
                set(o.acked),
                list(o.escalations),
                list(o.expansions),
                {
                    k: ReferralSeen(**{**vars(v), "history": list(v.history)})
                    for k, v in o.referrals.items()
                },
                list(o.referral_deliveries),
                list(o.overdue),
                list(o.referral_escalations),
                dict(o.cancellations),
                dict(o.reports_overdue),
            )

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.consumer.close()


def by_ring(obs: Observed, alert_event_id: str) -> Counter[int]:
    return Counter(
        s.ring_km
        for s in obs.deliveries.values()
        if s.source_event_id == alert_event_id and s.attempt == 1
    )
