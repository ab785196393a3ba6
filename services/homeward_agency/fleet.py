"""Many simulated agencies in one process, for demos and tests.

One consumer group reads every inbox topic (or those of the given types),
decodes and de-duplicates per (agency id, delivery id), and acknowledges for
each agency after that agency's delay, except the agencies told to stay
silent, which never acknowledge (so the fan-out's resends and escalations can
be watched). It keeps the figures a demo summary shows.

Referrals are answered by an optional answer policy: a function from the
referral's delivery to the answers to give (PlannedAnswer: status, coded
reason or outcome, and when). Each is checked with homeward.lifecycle, as the
SDK does, before it is sent; none for a referral means it goes unanswered.

Offsets are committed once per polled batch, after one wait for everything
the batch sent (InboxClients), even when some acknowledgements are still
waiting out their delay: if the process dies then, those agencies
simply look silent, and the fan-out resends to them, which is the behaviour
under test anyway.
"""

from __future__ import annotations

import heapq
import logging
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.events import AlertDelivery, ReferralRequested
from homeward.lifecycle import TransitionError
from homeward.metric_labels import field_label
from homeward.metrics import SDK_REFUSED
from homeward.settings import KafkaSettings
from homeward.topology import Topology, answer_topic_id
from homeward_agency.answers import PlannedAnswer, ReferralMemory, prepare
from homeward_agency.dedup import Seen, SeenSet
from homeward_agency.delivery import (
    Delivery,
    RawRecord,
    acknowledgement,
    decode_delivery,
    record_key,
)
from homeward_agency.inbox import InboxClients
from homeward_agency.outbox import SDK, consumed

log = logging.getLogger(__name__)

SERVICE = "homeward-agency-fleet"
# Every agency of a demo shares one set, so it is larger than one subscriber's.
FLEET_SEEN_CAPACITY = 1_000_000


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass(frozen=True)
class FleetStats:
    """A snapshot of what the fleet has seen and done."""

    deliveries: Mapping[str, int]
    """First copies received, per agency id."""
    acks: Mapping[str, int]
    """Acknowledgements sent, per agency id (re-acks of duplicates included)."""
    duplicates_dropped: int
    acks_sent: int
    escalations: int
    dead_letters: int
    latencies_ms: tuple[float, ...] = field(repr=False)
    """Per first copy: Kafka CreateTime of the inbox record minus accepted_at."""
    kinds: Mapping[str, int] = field(default_factory=dict)
    """First copies received, per delivery kind (alert, referral, referral_overdue, ...)."""
    answers: Mapping[str, int] = field(default_factory=dict)
    """Referral answers sent, per status."""
    answers_refused: int = 0
    """Planned answers the lifecycle refused before sending (a policy's mistake)."""

    @property
    def total_deliveries(self) -> int:
        return sum(self.deliveries.values())

    def latency_quantile(self, q: float) -> float | None:
        """The q-quantile (0..1) of the latencies, nearest rank; None if none."""
        return quantile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "agencies": len(self.deliveries),
            "deliveries": self.total_deliveries,
            "duplicates_dropped": self.duplicates_dropped,
            "acks_sent": self.acks_sent,
            "escalations": self.escalations,
            "dead_letters": self.dead_letters,
            "referrals": self.kinds.get("referral", 0),
            "answers_sent": sum(self.answers.values()),
            "latency_ms_p50": statistics.median(lat) if lat else None,
            "latency_ms_p95": self.latency_quantile(0.95),
            "latency_ms_max": max(lat) if lat else None,
        }


AckDelay = float | Mapping[str, float] | Callable[[str], float]
AnswerPolicy = Callable[[Delivery], Sequence[PlannedAnswer]]


class Fleet(InboxClients):
    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        agency_types: Iterable[AgencyType | str] | None = None,
        group_id: str = "homeward-agency-fleet",
        silent: Iterable[str] = (),
        ack_delay: AckDelay = 0.0,
        topology: Topology | None = None,
        codec: Codec | None = None,
        seen_capacity: int = FLEET_SEEN_CAPACITY,
        answer_policy: AnswerPolicy | None = None,
        principal: str | None = None,
        elsewhere: Iterable[str] = (),
    ) -> None:
        self.settings = settings or KafkaSettings()
        # Each simulated agency acts as itself (its own agency id and type in
        # every ack and answer), under the fleet's one principal.
        self.principal = principal or self.settings.sasl_username
        self.topology = topology or Topology.load(prefix=self.settings.topic_prefix)
        types = [AgencyType(t) for t in (agency_types or AgencyType)]
        self.topics = [self.topology.inbox(t).name for t in types]
        self.acks_topic = self.topology.get("alert_acks").name
        self.dead_letter_topic = self.topology.get("dead_letters").name
        self.silent = frozenset(silent)
        # Agencies that receive another way (webhook, the gateway's API): their
        # records are on the same inbox topics, but they are not this fleet's.
        self.elsewhere = frozenset(elsewhere)
        self._delay = ack_delay
        self.answer_policy = answer_policy
        self.codec = codec or Codec()
        self.seen = SeenSet(seen_capacity)
        self.referrals = ReferralMemory(seen_capacity)
        self._lock = threading.Lock()
        self._deliveries: Counter[str] = Counter()
        self._acks: Counter[str] = Counter()
        self._kinds: Counter[str] = Counter()
        self._answers: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._counts = {"duplicates": 0, "escalations": 0, "dead_letters": 0, "refused": 0}
        self._due: list[tuple[float, int, str, Delivery]] = []  # (due, seq, agency, delivery)
        # (due, seq, agency, referral delivery, answer)
        self._answers_due: list[tuple[float, int, str, Delivery, PlannedAnswer]] = []
        self._seq = 0
        super().__init__(
            self.settings, *self.topics, group_id=group_id, dead_letter_topic=self.dead_letter_topic
        )
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None

    def delay_for(self, agency_id: str) -> float:
        if callable(self._delay):
            return float(self._delay(agency_id))
        if isinstance(self._delay, Mapping):
            return float(self._delay.get(agency_id, 0.0))
        return float(self._delay)

    # -- one round ------------------------------------------------------------
    def step(self, timeout: float = 0.5) -> int:
        """Poll once, handle what came, send the acknowledgements now due,
        commit. Returns the number of records read."""
        for due in (self._due, self._answers_due):
            if due:
                timeout = max(0.0, min(timeout, due[0][0] - time.monotonic()))
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        count = 0
        for records in batches.values():
            for record in records:
                self._take(record)
                count += 1
        self._send_due(time.monotonic())
        if count:
            self._commit()
        else:
            self._outbox.confirm()  # the acknowledgements that fell due
        return count

    def _take(self, record: RawRecord) -> None:
        agency = record_key(record) or ""
        if agency in self.elsewhere:
            return
        try:
            delivery = decode_delivery(self.codec, record, recipient=agency)
        except Exception as exc:  # a bad record is dead-lettered, never fatal
            self._outbox.dead_letter(record, exc, SERVICE)
            with self._lock:
                self._counts["dead_letters"] += 1
            return
        consumed(record.topic, delivery.meta.type)
        state = self.seen.check((agency, delivery.dedup_key))
        with self._lock:
            if state is not Seen.NEW:
                self._counts["duplicates"] += 1
            else:
                self._kinds[delivery.kind] += 1
                if delivery.kind == "escalation":
                    self._counts["escalations"] += 1
                elif delivery.needs_ack:
                    self._deliveries[agency] += 1
                    latency = delivery.latency_ms
                    if latency is not None:
                        self._latencies.append(latency)
        if state is Seen.NEW:
            event = delivery.event
            # A referral is planned for once per offer, however often it is sent.
            fresh = isinstance(event, ReferralRequested) and (
                self.referrals.get(agency, event.case_id, event.referral_id) is None
                or event.offer > self.referrals.offer(agency, event.case_id, event.referral_id)
            )
            self.referrals.observe(agency, event)
            if fresh:
                self._plan(agency, delivery)
        if not delivery.needs_ack or agency in self.silent or state is Seen.PENDING:
            return  # PENDING: its acknowledgement is already waiting for its time
        if state is Seen.ACKED:
            self._ack(agency, delivery)  # the first one may have been lost
            return
        self._seq += 1
        due = time.monotonic() + self.delay_for(agency)
        heapq.heappush(self._due, (due, self._seq, agency, delivery))

    def _plan(self, agency: str, delivery: Delivery) -> None:
        if self.answer_policy is None:
            return
        try:
            planned = list(self.answer_policy(delivery))
        except Exception as exc:  # a policy's bug must not stop the other agencies
            log.warning("answer policy failed on referral %s: %s", delivery.delivery_id, exc)
            return
        start = time.monotonic()
        for answer in planned:
            self._seq += 1
            heapq.heappush(
                self._answers_due, (start + answer.after, self._seq, agency, delivery, answer)
            )

    def _send_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            _due, _seq, agency, delivery = heapq.heappop(self._due)
            self._ack(agency, delivery)
        while self._answers_due and self._answers_due[0][0] <= now:
            _due, _seq, agency, delivery, answer = heapq.heappop(self._answers_due)
            self._answer(agency, delivery, answer)

    def _answer(self, agency: str, delivery: Delivery, answer: PlannedAnswer) -> None:
        referral = delivery.event
        assert isinstance(referral, ReferralRequested)
        topic = self.topology.get(answer_topic_id(referral.agency_type)).name
        try:
            record, sent = prepare(
                self.codec,
                self.referrals,
                agency_id=agency,
                topic=topic,
                case_id=referral.case_id,
                referral_id=referral.referral_id,
                status=answer.status,
                reason=answer.reason,
                outcome=answer.outcome,
                note=answer.note,
                causation_id=delivery.meta.id,
                actor=agency_actor(agency, referral.agency_type, self.principal),
            )
        except TransitionError as exc:
            field, reason = describe(exc)
            log.warning(
                "%s's planned answer to referral %s refused: %s: %s",
                agency,
                referral.referral_id,
                field,
                reason,
            )
            with self._lock:
                self._counts["refused"] += 1
            SDK_REFUSED.labels(SDK, field_label(field, "answer")).inc()
            return
        self._outbox.send(topic, record)
        self.referrals.sent(sent)
        with self._lock:
            self._answers[sent.event.status.value] += 1

    def _ack(self, agency: str, delivery: Delivery) -> None:
        assert isinstance(delivery.event, AlertDelivery)  # only those are acknowledged
        actor = agency_actor(agency, delivery.event.agency_type, self.principal)
        record, _ack = acknowledgement(self.codec, delivery, agency, actor=actor)
        self._outbox.send(self.acks_topic, record)
        self.seen.mark_acked((agency, delivery.dedup_key))
        with self._lock:
            self._acks[agency] += 1

    # -- running --------------------------------------------------------------
    def run(self, stop_event: threading.Event, poll_timeout: float = 0.5) -> None:
        while not stop_event.is_set():
            self.step(poll_timeout)

    def start(self) -> Fleet:
        """Run in a background thread until stop(); the consumer lives there."""
        if self._thread is not None:
            raise RuntimeError("fleet already started")

        def target() -> None:
            try:
                self.run(self._stop)
            except BaseException as exc:  # handed to stop() to raise
                self._error = exc
                log.exception("fleet stopped on an error")
            finally:
                self.close()

        self._thread = threading.Thread(target=target, name="homeward-fleet", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> FleetStats:
        """Stop the background thread, close, and return the final figures
        (close() alone, or a `with` block, for a fleet never started)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self.close()
        if self._error is not None:
            raise RuntimeError("the fleet stopped on an error") from self._error
        return self.stats()

    def pending_acks(self) -> int:
        return len(self._due)

    def pending_answers(self) -> int:
        """Planned referral answers not sent yet."""
        return len(self._answers_due)

    def stats(self) -> FleetStats:
        with self._lock:
            return FleetStats(
                deliveries=dict(self._deliveries),
                acks=dict(self._acks),
                duplicates_dropped=self._counts["duplicates"],
                acks_sent=sum(self._acks.values()),
                escalations=self._counts["escalations"],
                dead_letters=self._counts["dead_letters"],
                latencies_ms=tuple(self._latencies),
                kinds=dict(self._kinds),
                answers=dict(self._answers),
                answers_refused=self._counts["refused"],
            )
