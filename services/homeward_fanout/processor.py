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
from homeward.deadletter import dead_letter
from homeward.errors import HomewardError
from homeward.events import AlertDelivery, DeliveryEscalated
from homeward.metrics import (
    DEAD_LETTERS,
    DELIVERIES,
    ESCALATIONS,
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    FANOUT_LATENCY,
    HANDLING_SECONDS,
)
from homeward.topology import Topology
from homeward_fanout import planner
from homeward_fanout.planner import CaseState, Outbound, Policy

log = logging.getLogger("homeward.fanout")
SERVICE = "fanout"

# (topic, key, value, headers) -> an awaitable that resolves once the broker has it.
Send = Callable[[str, bytes, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]

KIND = {
    "homeward.alerts.AlertIssued": "alert",
    "homeward.alerts.AlertUpdated": "update",
    "homeward.alerts.SightingReported": "sighting",
    "homeward.alerts.AlertCancelled": "cancellation",
}


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
        self.send = send
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
                outcome = planner.handle_event(
                    self._state(case_id),
                    decoded.event,
                    event_id=decoded.meta.id,
                    accepted_ms=planner.to_ms(decoded.meta.time),
                    now_ms=now_ms,
                    agencies=self.agencies,
                    policy=self.policy,
                )
            EVENTS_CONSUMED.labels(SERVICE, topic, kind).inc()
            await self._emit(case_id, outcome.out)
            if outcome.state is not None:
                key = case_id.encode()
                self.table[key] = json.dumps(outcome.state.to_json()).encode()
                self._wake[key] = outcome.state.next_wakeup_ms(self.policy)
            if outcome.note:
                log.info("case %s: %s", case_id, outcome.note)
        except (HomewardError, pydantic.ValidationError, UnicodeDecodeError) as exc:
            await self._dead_letter(topic, partition, offset, key, value, headers, exc)
        except Exception as exc:
            log.exception("unexpected failure on %s[%d]@%d", topic, partition, offset)
            await self._dead_letter(topic, partition, offset, key, value, headers, exc)
        finally:
            HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)

    async def _emit(self, case_id: str, out: list[Outbound]) -> None:
        pending: list[tuple[Awaitable[Any], Outbound, str]] = []
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
            pending.append((await self._send(topic, record), ob, topic))
        # Wait for the broker to have every record before the state moves on:
        # if the worker dies first, the input is handled again with the same ids.
        await asyncio.gather(*(p[0] for p in pending))
        now = self.clock()
        for _, ob, topic in pending:
            EVENTS_PRODUCED.labels(SERVICE, topic, ob.event.avro_name).inc()
            if isinstance(ob.event, AlertDelivery):
                kind = KIND.get(ob.event.event.avro_name, "other")
                DELIVERIES.labels(ob.event.agency_type, kind).inc()
                FANOUT_LATENCY.labels(kind).observe(
                    max(0.0, now - ob.event.accepted_at.timestamp())
                )
            elif isinstance(ob.event, DeliveryEscalated):
                ESCALATIONS.labels(ob.event.agency_type).inc()

    async def _send(self, topic: str, record: Record) -> Awaitable[Any]:
        return await self.send(topic, record.key, record.value, record.headers)

    async def _dead_letter(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
        exc: Exception,
    ) -> None:
        reason = exc.field if isinstance(exc, HomewardError) and exc.field else type(exc).__name__
        log.warning("dead-lettering %s[%d]@%d: %s", topic, partition, offset, exc)
        record = dead_letter(
            key=key,
            value=value,
            headers=headers,
            error=exc,
            topic=topic,
            partition=partition,
            offset=offset,
            service=SERVICE,
        )
        try:
            await (await self._send(self.topology.get("dead_letters").name, record))
            DEAD_LETTERS.labels(SERVICE, reason).inc()
        except Exception:
            log.exception("could not write the dead letter for %s[%d]@%d", topic, partition, offset)

    def due_ticks(self) -> list[str]:
        """Cases (among those this worker holds) whose next wake-up has come."""
        now_ms = int(self.clock() * 1000)
        due = []
        for key in list(self.table.keys()):
            if key not in self._wake:
                data = self.table.get(key)
                state = CaseState.from_json(json.loads(data)) if data else None
                self._wake[key] = state.next_wakeup_ms(self.policy) if state else None
            wake = self._wake[key]
            if wake is not None and wake <= now_ms:
                due.append(key.decode())
        return due
