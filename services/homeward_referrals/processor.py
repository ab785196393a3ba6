"""Carries out the planner's decisions for one Kafka record: decode, look up
the case's (or report's) state, decide, produce, store. Every failure of a
record ends in the dead-letter topic; the processor never lets an exception
out, because a Faust agent that raises would skip the record silently (GUIDE)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence

import pydantic

from homeward.actors import service_actor, stamped
from homeward.agency_types import AgencyType
from homeward.codec import Codec, Decoded, Record
from homeward.errors import HomewardError, ValidationError
from homeward.events import (
    Actor,
    ClockTick,
    DnaComparisonRecorded,
    MandatoryReportFiled,
    ReferralAnswered,
    ReferralOverdue,
    ReferralStatusChanged,
    ReportAcknowledged,
    ReportOverdue,
    RescueNotified,
    TaskStatus,
    TipAcknowledged,
    TipOverdue,
    TipReceived,
)
from homeward.lifecycle import AGENCY_ANSWERS, FINISHED
from homeward.metrics import (
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    HANDLING_SECONDS,
    OVERDUE,
    REFERRAL_ANSWER_SECONDS,
    REFERRALS,
    REFERRALS_OPEN,
)
from homeward.processing import Emitter, Send
from homeward.topology import Topology
from homeward_referrals import planner
from homeward_referrals.planner import Outbound, Outcome, Router
from homeward_referrals.state import (
    CaseState,
    ReportState,
    TipsState,
    derive_id,
    from_ms,
    to_ms,
)

log = logging.getLogger("homeward.referrals")
SERVICE = "referrals"
# The case-keyed, co-partitioned topics the router reads.
SOURCES = (
    "rescues",
    "referral_answers",
    "police_referrals",
    "referral_ticks",
    "reports",
    "police_tips",
)
CASES, REPORTS, TIPS = "cases", "reports", "tips"
_STATES: dict[str, type[CaseState] | type[ReportState] | type[TipsState]] = {
    CASES: CaseState,
    REPORTS: ReportState,
    TIPS: TipsState,
}

Table = MutableMapping[bytes, bytes]


def open_referrals(state: CaseState) -> Counter[tuple[str, str]]:
    """A case's referrals held by an agency and not finished, by (agency type,
    status); escalated ones are the coordination office's, off the bus."""
    return Counter(
        (ref.agency_type, ref.status)
        for ref in state.referrals.values()
        if ref.status is not None
        and not ref.escalated
        and ref.agency_id is not None
        and TaskStatus(ref.status) not in FINISHED
    )


def is_first_answer(changed: ReferralStatusChanged) -> bool:
    """An agency's answer to an offer still awaiting one (not the requester's cancel)."""
    return changed.previous_status == TaskStatus.REQUESTED and changed.status in AGENCY_ANSWERS


class ReferralProcessor:
    def __init__(
        self,
        *,
        topology: Topology,
        router: Router,
        cases: Table,
        reports: Table,
        send: Send,
        source: str,
        tips: Table | None = None,
        codec: Codec | None = None,
        clock: Callable[[], float] = time.time,
        actor: Actor | None = None,
        owns: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.topology = topology
        self.actor = actor or service_actor(SERVICE)
        self.router = router
        # Whether this worker actively owns a case (report, tip) key now
        # (homeward.ownership): its tables also hold standby copies and what a
        # rebalance took away, which its timers must neither tick nor count.
        self.owns = owns or (lambda key: True)
        self.tables: dict[str, Table] = {
            CASES: cases,
            REPORTS: reports,
            TIPS: tips if tips is not None else {},
        }
        self.emitter = Emitter(
            send, service=SERVICE, dead_letter_topic=topology.get("dead_letters").name
        )
        self.source = source
        self.codec = codec or Codec()
        self.clock = clock
        self.ticks_topic = topology.get("referral_ticks").name
        # What each topic may carry, from its declaration: a record of another
        # kind is refused, whatever its key.
        self.expected = {topology.get(t).name: frozenset(topology.get(t).values) for t in SOURCES}
        # Next wake-up per (table, key), so the timer need not parse every state
        # each round; filled lazily for states recovered from the changelog.
        self._wake: dict[tuple[str, bytes], int | None] = {}
        # Open referrals per case key, for the gauge; filled lazily like _wake.
        self._open: dict[bytes, Counter[tuple[str, str]]] = {}
        self._open_shown: set[tuple[str, str]] = set()

    def _load(self, table: str, key: str) -> CaseState | ReportState | TipsState | None:
        data = self.tables[table].get(key.encode())
        if not data:
            return None
        return _STATES[table].from_json(json.loads(data))

    def _case(self, key: str) -> CaseState | None:
        state = self._load(CASES, key)
        assert state is None or isinstance(state, CaseState)
        return state

    def _report(self, key: str) -> ReportState | None:
        state = self._load(REPORTS, key)
        assert state is None or isinstance(state, ReportState)
        return state

    def _tips(self, key: str) -> TipsState | None:
        state = self._load(TIPS, key)
        assert state is None or isinstance(state, TipsState)
        return state

    async def process(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> None:
        started = time.perf_counter()
        kind = "unknown"
        # 1. Decide. A record that cannot be read or breaks a rule is dead-lettered;
        #    so is one that trips a bug here, so one bad record never stops the agent.
        try:
            decoded = self.codec.decode(value, headers)
            kind = decoded.event.avro_name
            case_id = decoded.event.case_id
            if kind.rsplit(".", 1)[-1] not in self.expected.get(topic, ()):
                raise ValidationError(f"{kind} does not belong on {topic}", field="ce_type")
            if key != case_id.encode():
                # State lives on the partition the key picks: a record keyed
                # otherwise would put it where this case's other records are not.
                raise ValidationError(f"record key must be the case id {case_id!r}", field="key")
            # Read before the planner moves the referral on: when it was offered.
            asked_ms = self._offered_ms(decoded.event)
            outcomes = self._plan(decoded)
            # Encoded here, not in the retry loop below: a record that cannot be
            # encoded will not encode on a retry either.
            encoded = self._encode(case_id, [ob for _, o in outcomes for ob in o.out])
        except Exception as exc:
            if not isinstance(exc, HomewardError | pydantic.ValidationError | UnicodeDecodeError):
                log.exception("unexpected failure on %s[%d]@%d", topic, partition, offset)
            await self.emitter.dead_letter(topic, partition, offset, key, value, headers, exc)
            HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)
            return
        EVENTS_CONSUMED.labels(SERVICE, topic, kind).inc()
        # 2. Carry it out. Broker trouble is retried until it passes: giving up
        #    would lose the case's state, and a retry writes the same ids.
        await self.emitter.retrying(
            f"emit for case {case_id}", lambda: self._emit(encoded, asked_ms)
        )
        for table, outcome in outcomes:
            if outcome.state is not None:
                table_key = case_id.encode()
                self.tables[table][table_key] = json.dumps(outcome.state.to_json()).encode()
                self._wake[(table, table_key)] = outcome.state.next_wakeup_ms()
                if isinstance(outcome.state, CaseState):
                    self._open[table_key] = open_referrals(outcome.state)
            if outcome.note:
                log.info("%s %s: %s", table, case_id, outcome.note)
        HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)

    def _plan(self, decoded: Decoded) -> list[tuple[str, Outcome]]:
        event, meta, r = decoded.event, decoded.meta, self.router
        cid = event.case_id
        if isinstance(event, RescueNotified):
            o = planner.handle_rescue(
                self._case(cid), event, event_id=meta.id, event_time=meta.time, router=r
            )
            return [(CASES, o)]
        if isinstance(event, ReferralAnswered):
            o = planner.handle_answer(
                self._case(cid), event, event_id=meta.id, event_time=meta.time, router=r
            )
            return [(CASES, o)]
        if isinstance(event, DnaComparisonRecorded):
            # Only whether it matched is used here (a family found), never the DNA data.
            if event.result != "match":
                return []
            if event.actor is None or event.actor.agency_type != AgencyType.POLICE.value:
                raise ValidationError(
                    "only police record a DNA comparison; this one's actor is not police",
                    field="actor.agency_type",
                )
            return [(CASES, planner.handle_family_found(self._case(cid)))]
        if isinstance(event, ClockTick):
            return [
                (CASES, planner.handle_tick(self._case(cid), now=event.now, router=r)),
                (REPORTS, planner.handle_report_tick(self._report(cid), now=event.now, router=r)),
                (TIPS, planner.handle_tip_tick(self._tips(cid), now=event.now, router=r)),
            ]
        if isinstance(event, MandatoryReportFiled):
            o = planner.handle_report(
                self._report(cid), event, event_id=meta.id, event_time=meta.time, router=r
            )
            return [(REPORTS, o)]
        if isinstance(event, ReportAcknowledged):
            o = planner.handle_report_ack(self._report(cid), event, event_time=meta.time, router=r)
            return [(REPORTS, o)]
        if isinstance(event, TipReceived):
            o = planner.handle_tip(
                self._tips(cid), event, event_id=meta.id, event_time=meta.time, router=r
            )
            return [(TIPS, o)]
        if isinstance(event, TipAcknowledged):
            o = planner.handle_tip_ack(self._tips(cid), event, event_time=meta.time, router=r)
            return [(TIPS, o)]
        raise ValidationError(f"{event.avro_name} is not handled by the router", field="ce_type")

    def _encode(self, case_id: str, out: list[Outbound]) -> list[tuple[str, Record, Outbound]]:
        encoded = []
        for ob in out:
            record, _ = self.codec.encode(
                # What the router decides carries its actor; what it passes on
                # (a rescue's alert cancellation) keeps its own.
                stamped(ob.event, self.actor),
                key=ob.key,
                source=self.source,
                correlation_id=case_id,
                causation_id=ob.causation_id,
                event_id=ob.event_id,
                time=ob.time,
                classification=ob.classification,
            )
            encoded.append((self.topology.get(ob.topic).name, record, ob))
        return encoded

    def _offered_ms(self, event: object) -> int | None:
        """For an answer to a referral still awaiting its first answer: when the
        current offer was made (the answer clock's start)."""
        if not isinstance(event, ReferralAnswered):
            return None
        state = self._case(event.case_id)
        ref = state.referrals.get(event.referral_id) if state else None
        if ref is None or ref.task_status != TaskStatus.REQUESTED:
            return None
        return ref.requested_ms if ref.agency_id == event.agency_id else None

    async def _emit(
        self, encoded: list[tuple[str, Record, Outbound]], asked_ms: int | None = None
    ) -> None:
        pending = [
            (await self.emitter.send_record(topic, record), ob, topic)
            for topic, record, ob in encoded
        ]
        # Wait for the broker to have every record before the state moves on:
        # if the worker dies first, the input is handled again with the same ids.
        await asyncio.gather(*(p[0] for p in pending))
        for _, ob, topic in pending:
            EVENTS_PRODUCED.labels(SERVICE, topic, ob.event.avro_name).inc()
            if ob.topic != planner.LOG:
                continue  # counted once, on the log, not again for the office's copy
            if isinstance(ob.event, ReferralStatusChanged):
                REFERRALS.labels(ob.event.agency_type, ob.event.status.value).inc()
                if asked_ms is not None and is_first_answer(ob.event):
                    waited_ms = max(0, to_ms(ob.event.changed_at) - asked_ms)
                    REFERRAL_ANSWER_SECONDS.labels(ob.event.agency_type).observe(waited_ms / 1000)
            elif isinstance(ob.event, ReferralOverdue):
                OVERDUE.labels("referral", ob.event.phase).inc()
            elif isinstance(ob.event, ReportOverdue):
                OVERDUE.labels("report", "acknowledgement").inc()
            elif isinstance(ob.event, TipOverdue):
                OVERDUE.labels("tip", "acknowledgement").inc()

    def forget(self) -> None:
        """A rebalance: what was learnt from states this worker may no longer hold,
        or that another worker has changed since, is read again from the tables."""
        self._wake.clear()
        self._open.clear()

    def due_ticks(self) -> list[str]:
        """Cases and reports (among those this worker owns) with a deadline passed."""
        now_ms = int(self.clock() * 1000)
        due: list[str] = []
        for table, rows in self.tables.items():
            for key in list(rows.keys()):
                if not self.owns(key):
                    continue  # its owner ticks it
                if (table, key) not in self._wake:
                    try:
                        state = self._load(table, key.decode())
                        self._wake[(table, key)] = state.next_wakeup_ms() if state else None
                    except Exception:
                        # A state this version cannot read must not stop the timer for
                        # every other case; the agent dead-letters what it cannot handle.
                        log.exception("unreadable state in %s for %r", table, key)
                        self._wake[(table, key)] = None
                wake = self._wake[(table, key)]
                name = key.decode("utf-8", "replace")
                if wake is not None and wake <= now_ms and name not in due:
                    due.append(name)
        return due

    def open_counts(self) -> Counter[tuple[str, str]]:
        """Open referrals in this worker's case table by (agency type, status),
        for the homeward_referrals_open gauge; states recovered from the
        changelog are read once and then followed as they are stored."""
        rows = self.tables[CASES]
        totals: Counter[tuple[str, str]] = Counter()
        keys = {k for k in list(rows.keys()) if self.owns(k)}  # counted on one worker only
        for key in keys:
            if key not in self._open:
                try:
                    state = self._case(key.decode())
                    self._open[key] = open_referrals(state) if state else Counter()
                except Exception:
                    # One unreadable state must not blank the gauge for every other case.
                    log.exception("unreadable state in cases for %r", key)
                    self._open[key] = Counter()
            totals.update(self._open[key])
        for gone in self._open.keys() - keys:
            del self._open[gone]
        return totals

    def report_open(self) -> None:
        """Set homeward_referrals_open; a status no longer held drops to 0."""
        counts = self.open_counts()
        for labels in self._open_shown - counts.keys():
            REFERRALS_OPEN.labels(*labels).set(0)
        for labels, n in counts.items():
            REFERRALS_OPEN.labels(*labels).set(n)
        self._open_shown |= counts.keys()

    def tick(self, case_id: str) -> Record:
        """A ClockTick for the case (or report) as of the wall clock, for the timer to send."""
        now_ms = int(self.clock() * 1000)
        now = from_ms(now_ms)
        record, _ = self.codec.encode(
            ClockTick(case_id=case_id, now=now, actor=self.actor),
            key=case_id,
            source=self.source,
            event_id=derive_id(case_id, "tick", str(now_ms)),
            time=now,
        )
        return record
