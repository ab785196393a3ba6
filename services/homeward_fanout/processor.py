"""Carries out the planner's decisions for a batch of Kafka records: decode,
look up each case's state, decide, produce, store. Every failure of a record
ends in the dead-letter topic; the processor never lets an exception out,
because a Faust agent that raises would skip the record silently (GUIDE).

Records are decided in order, each against the state the batch's earlier
records left; their output is sent as it is built, and the broker's
acknowledgement of all of it is waited for once per batch, not once per
record (the round trip was what limited the fan-out). A case's state is
stored only after its output is acknowledged: if the worker dies first, the
records are handled again and write the same ids."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from homeward.agencies import Agency, AgencyType
from homeward.codec import Codec, Decoded, Record
from homeward.errors import HomewardError, ValidationError
from homeward.events import AgencyAcknowledgement, AlertDelivery, DeliveryEscalated, Event
from homeward.events.alerts import DELIVERY_KIND
from homeward.metrics import (
    ACK_SECONDS,
    DELIVERIES,
    ESCALATIONS,
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    FANOUT_LATENCY,
    HANDLING_SECONDS,
)
from homeward.processing import Emitter, Send
from homeward.topology import Topology
from homeward_fanout import planner
from homeward_fanout.planner import CaseState, Outbound, Outcome, Policy
from homeward_fanout.store import PART_BYTES, CaseStore

log = logging.getLogger("homeward.fanout")
SERVICE = "fanout"
# (topic, partition, offset, key, value, headers) of one consumed record.
Message = tuple[str, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]] | None]
# Records built and handed to the producer between two turns of the event
# loop: the producer's sender writes the first chunk while the next is built.
CHUNK = 250


@dataclass(frozen=True)
class Awaited:
    """An alert delivery whose first acknowledgement has just arrived."""

    agency_type: str
    first_sent_ms: int


def awaited_ack(
    state: CaseState | None, event: Event, directory: Sequence[Agency]
) -> Awaited | None:
    aid = planner.awaited(state, event)
    if state is None or aid is None:
        return None
    agency = planner.directory_of(directory).get(aid)
    kind = agency.type.value if agency is not None else "unknown"
    return Awaited(kind, state.first_sent_ms(aid))


@dataclass
class Batch:
    """What a batch has sent so far, and what to count once the broker has it."""

    # Each handled record's case and output, to send again if the broker
    # failed: rebuilt then, not kept encoded (10,000 encoded deliveries are
    # tens of MB; their builders a few).
    outputs: list[tuple[str, list[Outbound]]] = field(default_factory=list)
    futures: list[Awaitable[Any]] = field(default_factory=list)
    sent: int = 0
    failed: BaseException | None = None
    produced: Counter[tuple[str, str]] = field(default_factory=Counter)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    latency: Counter[tuple[str, float]] = field(default_factory=Counter)  # (kind, accepted s)


class FanoutProcessor:
    def __init__(
        self,
        *,
        topology: Topology,
        agencies: Sequence[Agency],
        policy: Policy,
        table: MutableMapping[bytes, bytes],
        send: Send,
        source: str,
        codec: Codec | None = None,
        clock: Callable[[], float] = time.time,
        state_part_bytes: int = PART_BYTES,
        owns: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.topology = topology
        # Whether this worker actively owns a case now (homeward.ownership): its
        # table also holds standby copies and what a rebalance took away.
        self.owns = owns or (lambda key: True)
        self.agencies = planner.directory_of(agencies)
        self.offices = [a for a in agencies if a.type == AgencyType.COORDINATION_OFFICE]
        self.policy = policy
        self.store = CaseStore(table, state_part_bytes)
        self.emitter = Emitter(
            send, service=SERVICE, dead_letter_topic=topology.get("dead_letters").name
        )
        self.source = source
        self.codec = codec or Codec()
        self.clock = clock
        self.ticks_topic = topology.get("fanout_ticks").name
        self.alerts_topic = topology.get("alert_events").name
        self._inboxes = {t: topology.inbox(t).name for t in AgencyType}
        # Next wake-up per case, so the timer need not parse every state each
        # round; filled lazily for states recovered from the changelog.
        self._wake: dict[bytes, int | None] = {}

    async def process(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> None:
        await self.process_batch([(topic, partition, offset, key, value, headers)])

    async def process_batch(self, messages: Sequence[Message]) -> None:
        """Decide and send each record in order, wait once for the broker to
        have all the output, then store the states the records changed."""
        working: dict[bytes, CaseState | None] = {}  # case -> state as the batch left it
        changed: set[bytes] = set()
        batch = Batch()
        done: list[tuple[str, str, str, Awaited | None, float]] = []
        for topic, partition, offset, key, value, headers in messages:
            started = time.perf_counter()
            kind = "tick"
            # 1. Decide and send. A record that cannot be read or breaks a rule
            #    is dead-lettered; so is one that trips a bug here, so one bad
            #    record never stops the agent.
            try:
                if topic == self.ticks_topic:
                    case_id, decoded = (key or b"").decode(), None
                else:
                    decoded = self.codec.decode(value, headers)
                    kind, case_id = decoded.event.avro_name, decoded.event.case_id
                    if key != case_id.encode():
                        # The state lives on the partition the key picks: a record
                        # keyed otherwise would put it where this case's other
                        # records are not.
                        raise ValidationError(
                            f"record key must be the case id {case_id!r}", field="key"
                        )
                outcome, acked = self._decide(case_id, decoded, working)
                # An output that cannot be encoded (a bug) dead-letters the
                # record; what of it was sent already carries the ids a replay
                # of the dead letter writes again.
                await self._send(batch, case_id, outcome.out, measure=decoded is not None)
            except Exception as exc:
                if not isinstance(
                    exc, HomewardError | pydantic.ValidationError | UnicodeDecodeError
                ):
                    log.exception("unexpected failure on %s[%d]@%d", topic, partition, offset)
                await self.emitter.dead_letter(topic, partition, offset, key, value, headers, exc)
                HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)
                continue
            EVENTS_CONSUMED.labels(SERVICE, topic, kind).inc()
            table_key = case_id.encode()
            working[table_key] = outcome.state
            if outcome.changed and outcome.state is not None:
                changed.add(table_key)
            done.append((case_id, kind, outcome.note, acked, started))
        # 2. Wait for the broker to have every record before any state moves
        #    on. Broker trouble is retried until it passes: giving up would
        #    lose the states, and a retry writes the same ids.
        await self._settle(batch, len(done))
        self._count(batch)
        for table_key, state in working.items():
            if state is None:
                continue
            if table_key in changed:
                self.store.save(table_key, state)
                self._wake[table_key] = state.next_wakeup_ms(self.policy)
            else:
                self.store.keep(table_key, state)
        for case_id, kind, note, acked, started in done:
            if note:
                log.info("case %s: %s", case_id, note)
            if acked is not None:
                waited_ms = max(0, int(self.clock() * 1000) - acked.first_sent_ms)
                ACK_SECONDS.labels(acked.agency_type).observe(waited_ms / 1000)
            HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)

    def _decide(
        self, case_id: str, decoded: Decoded | None, working: dict[bytes, CaseState | None]
    ) -> tuple[Outcome, Awaited | None]:
        """The planner's outcome for a tick (decoded is None) or an event."""
        now_ms = int(self.clock() * 1000)
        state = self._state(case_id, working)
        if decoded is None:
            outcome = planner.handle_tick(
                self._copy(state),
                now_ms=now_ms,
                agencies=self.agencies,
                policy=self.policy,
                coordination_offices=self.offices,
            )
            return outcome, None
        # Read before the planner drops the delivery from what is pending.
        acked = awaited_ack(state, decoded.event, self.agencies)
        if not isinstance(decoded.event, AgencyAcknowledgement):
            # The planner changes the state it is given; a record that fails
            # half-way must leave the batch's state as it was. Acks are refused
            # before they change anything, and are too many to copy for.
            state = self._copy(state)
        outcome = planner.handle_event(
            state,
            decoded.event,
            event_id=decoded.meta.id,
            accepted_ms=planner.to_ms(decoded.meta.time),
            now_ms=now_ms,
            agencies=self.agencies,
            policy=self.policy,
        )
        return outcome, acked

    @staticmethod
    def _copy(state: CaseState | None) -> CaseState | None:
        return state.copy() if state is not None else None

    def _state(self, case_id: str, working: dict[bytes, CaseState | None]) -> CaseState | None:
        key = case_id.encode()
        if key in working:
            return working[key]
        return self.store.load(key)

    async def _send(
        self, batch: Batch, case_id: str, out: list[Outbound], *, measure: bool
    ) -> None:
        """Build, encode and hand each record to the producer, a chunk at a time."""
        for ob in out:
            batch.sent += 1
            if batch.sent % CHUNK == 0:
                await asyncio.sleep(0)
            topic, record, event = self._encode(case_id, ob)
            if batch.failed is None:
                try:
                    batch.futures.append(await self.emitter.send_record(topic, record))
                except Exception as exc:
                    batch.failed = exc  # sent again, all of it, in _settle
            batch.produced[topic, event.avro_name] += 1
            if isinstance(event, AlertDelivery):
                kind = DELIVERY_KIND[event.event.avro_name]
                batch.deliveries[event.agency_type, kind] += 1
                # Widenings and resends (from ticks) deliver long after intake
                # accepted the alert: that is not fan-out latency.
                if measure and event.attempt == 1:
                    batch.latency[kind, event.accepted_at.timestamp()] += 1
            elif isinstance(event, DeliveryEscalated):
                batch.escalations[event.agency_type] += 1
        batch.outputs.append((case_id, out))

    def _encode(self, case_id: str, ob: Outbound) -> tuple[str, Record, Event]:
        event = ob.build()  # not ob.event: no model is kept once encoded
        record, _ = self.codec.encode(
            event,
            key=ob.key,
            source=self.source,
            correlation_id=case_id,
            causation_id=ob.causation_id,
            event_id=ob.event_id,
        )
        return self._inboxes[ob.inbox] if ob.inbox else self.alerts_topic, record, event

    async def _settle(self, batch: Batch, handled: int) -> None:
        if batch.failed is None:
            try:
                await asyncio.gather(*batch.futures)
                return
            except Exception as exc:
                batch.failed = exc
        log.warning(
            "emit for %d records failed (%s: %s); sending again",
            handled,
            type(batch.failed).__name__,
            batch.failed,
        )

        async def again() -> None:
            futures = []
            for case_id, out in batch.outputs:
                for ob in out:
                    topic, record, _ = self._encode(case_id, ob)
                    futures.append(await self.emitter.send_record(topic, record))
            await asyncio.gather(*futures)

        await self.emitter.retrying(f"emit for {handled} records", again)

    def _count(self, batch: Batch) -> None:
        """The batch's output metrics, once the broker has it: a label lookup
        per kind of record, not per record."""
        for (topic, kind), n in batch.produced.items():
            EVENTS_PRODUCED.labels(SERVICE, topic, kind).inc(n)
        for (agency_type, kind), n in batch.deliveries.items():
            DELIVERIES.labels(agency_type, kind).inc(n)
        for agency_type, n in batch.escalations.items():
            ESCALATIONS.labels(agency_type).inc(n)
        now = self.clock()
        for (kind, accepted), n in batch.latency.items():
            child, seconds = FANOUT_LATENCY.labels(kind), max(0.0, now - accepted)
            for _ in range(n):
                child.observe(seconds)

    def forget(self) -> None:
        """A rebalance: wake-ups learnt from states this worker may no longer hold,
        or that another worker has changed since, are read again from the table."""
        self._wake.clear()
        self.store.forget()

    def due_ticks(self) -> list[str]:
        """Cases (among those this worker owns) whose next wake-up has come."""
        now_ms = int(self.clock() * 1000)
        due = []
        for key in self.store.case_keys():
            if not self.owns(key):
                # Another worker's (a standby copy, or revoked): its owner ticks it.
                continue
            if key not in self._wake:
                try:
                    state = self.store.load(key)
                    self._wake[key] = state.next_wakeup_ms(self.policy) if state else None
                    if state is not None:
                        self.store.keep(key, state)
                except Exception:
                    # A state this version cannot read must not stop the timer for
                    # every other case; the agent dead-letters what it cannot handle.
                    log.exception("unreadable state for case %r", key)
                    self._wake[key] = None
            wake = self._wake[key]
            if wake is not None and wake <= now_ms:
                due.append(key.decode("utf-8", "replace"))
        return due
