"""Carries out the planner's decisions for one Kafka record: decode, look up
the case state, decide, produce, store. Every failure of a record ends in the
dead-letter topic; the processor never lets an exception out, because a
Faust agent that raises would skip the record silently (GUIDE)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import pydantic

from homeward.agencies import Agency, AgencyType
from homeward.codec import Codec, Record
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
from homeward_fanout.planner import CaseState, Outbound, Pending, Policy

log = logging.getLogger("homeward.fanout")
SERVICE = "fanout"


def awaited_ack(state: CaseState | None, event: Event) -> Pending | None:
    """The delivery `event` acknowledges, if it is one still awaiting its
    acknowledgement from that agency: the first ack of it stops its clock."""
    if state is None or not isinstance(event, AgencyAcknowledgement):
        return None
    pending = state.pending.get(event.delivery_id)
    return pending if pending is not None and pending.agency_id == event.agency_id else None


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
    ) -> None:
        self.topology = topology
        self.agencies = agencies
        self.offices = [a for a in agencies if a.type == AgencyType.COORDINATION_OFFICE]
        self.policy = policy
        self.table = table
        self.emitter = Emitter(
            send, service=SERVICE, dead_letter_topic=topology.get("dead_letters").name
        )
        self.source = source
        self.codec = codec or Codec()
        self.clock = clock
        self.ticks_topic = topology.get("fanout_ticks").name
        self.alerts_topic = topology.get("alert_events").name
        # Next wake-up per case, so the timer need not parse every state each
        # round; filled lazily for states recovered from the changelog.
        self._wake: dict[bytes, int | None] = {}

    def _state(self, case_id: str) -> CaseState | None:
        data = self.table.get(case_id.encode())
        return CaseState.from_json(json.loads(data)) if data else None

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
        kind = "tick"
        acked: Pending | None = None
        # 1. Decide. A record that cannot be read or breaks a rule is dead-lettered;
        #    so is one that trips a bug here, so one bad record never stops the agent.
        try:
            now_ms = int(self.clock() * 1000)
            if topic == self.ticks_topic:
                case_id = (key or b"").decode()
                outcome = planner.handle_tick(
                    self._state(case_id),
                    now_ms=now_ms,
                    agencies=self.agencies,
                    policy=self.policy,
                    coordination_offices=self.offices,
                )
            else:
                decoded = self.codec.decode(value, headers)
                kind = decoded.event.avro_name
                case_id = decoded.event.case_id
                if key != case_id.encode():
                    # The state lives on the partition the key picks: a record keyed
                    # otherwise would put it where this case's other records are not.
                    raise ValidationError(
                        f"record key must be the case id {case_id!r}", field="key"
                    )
                state = self._state(case_id)
                # Read before the planner drops the delivery from what is pending.
                acked = awaited_ack(state, decoded.event)
                outcome = planner.handle_event(
                    state,
                    decoded.event,
                    event_id=decoded.meta.id,
                    accepted_ms=planner.to_ms(decoded.meta.time),
                    now_ms=now_ms,
                    agencies=self.agencies,
                    policy=self.policy,
                )
            # Encoded here, not in the retry loop below: a record that cannot be
            # encoded will not encode on a retry either.
            encoded = self._encode(case_id, outcome.out)
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
            f"emit for case {case_id}",
            lambda: self._emit(encoded, measure=topic != self.ticks_topic),
        )
        if outcome.state is not None:
            table_key = case_id.encode()
            self.table[table_key] = json.dumps(outcome.state.to_json()).encode()
            self._wake[table_key] = outcome.state.next_wakeup_ms(self.policy)
        if outcome.note:
            log.info("case %s: %s", case_id, outcome.note)
        if acked is not None:
            waited_ms = max(0, int(self.clock() * 1000) - acked.first_sent_ms)
            ACK_SECONDS.labels(acked.agency_type).observe(waited_ms / 1000)
        HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)

    def _encode(self, case_id: str, out: list[Outbound]) -> list[tuple[str, Record, Outbound]]:
        encoded = []
        for ob in out:
            record, _ = self.codec.encode(
                ob.event,
                key=ob.key,
                source=self.source,
                correlation_id=case_id,
                causation_id=ob.causation_id,
                event_id=ob.event_id,
            )
            topic = self.topology.inbox(ob.inbox).name if ob.inbox else self.alerts_topic
            encoded.append((topic, record, ob))
        return encoded

    async def _emit(self, encoded: list[tuple[str, Record, Outbound]], *, measure: bool) -> None:
        pending: list[tuple[Awaitable[Any], Outbound, str]] = [
            (await self.emitter.send_record(topic, record), ob, topic)
            for topic, record, ob in encoded
        ]
        # Wait for the broker to have every record before the state moves on:
        # if the worker dies first, the input is handled again with the same ids.
        await asyncio.gather(*(p[0] for p in pending))
        now = self.clock()
        for _, ob, topic in pending:
            EVENTS_PRODUCED.labels(SERVICE, topic, ob.event.avro_name).inc()
            if isinstance(ob.event, AlertDelivery):
                kind = DELIVERY_KIND[ob.event.event.avro_name]
                DELIVERIES.labels(ob.event.agency_type, kind).inc()
                # Widenings and resends (from ticks) deliver long after intake
                # accepted the alert: that is not fan-out latency.
                if measure and ob.event.attempt == 1:
                    FANOUT_LATENCY.labels(kind).observe(
                        max(0.0, now - ob.event.accepted_at.timestamp())
                    )
            elif isinstance(ob.event, DeliveryEscalated):
                ESCALATIONS.labels(ob.event.agency_type).inc()

    def due_ticks(self) -> list[str]:
        """Cases (among those this worker holds) whose next wake-up has come."""
        now_ms = int(self.clock() * 1000)
        due = []
        for key in list(self.table.keys()):
            if key not in self._wake:
                try:
                    data = self.table.get(key)
                    state = CaseState.from_json(json.loads(data)) if data else None
                    self._wake[key] = state.next_wakeup_ms(self.policy) if state else None
                except Exception:
                    # A state this version cannot read must not stop the timer for
                    # every other case; the agent dead-letters what it cannot handle.
                    log.exception("unreadable state for case %r", key)
                    self._wake[key] = None
            wake = self._wake[key]
            if wake is not None and wake <= now_ms:
                due.append(key.decode("utf-8", "replace"))
        return due
