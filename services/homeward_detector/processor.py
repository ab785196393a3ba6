"""Carries out the planner's decisions for one Kafka record: decode, check the
topic and the key, look up the key's state, decide, produce, store. Every
failure of a record ends in the dead-letter topic; the processor never lets
an exception out, because a Faust agent that raises would skip the record
silently (GUIDE)."""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Literal

import pydantic

from homeward.actors import require_agency, service_actor, stamped
from homeward.codec import Codec, Decoded, Record
from homeward.errors import HomewardError, ValidationError
from homeward.events import (
    Actor,
    BirthCertificateIssued,
    ClockTick,
    DeliveryRecorded,
    DischargeRecorded,
)
from homeward.events.health import HEALTH_RECORDS
from homeward.metrics import ANOMALIES, EVENTS_CONSUMED, EVENTS_PRODUCED, HANDLING_SECONDS
from homeward.processing import Emitter, Send
from homeward.topology import Topology
from homeward_detector import planner
from homeward_detector.planner import Outcome, Windows
from homeward_detector.state import IndexState, PersonState, derive_id, from_ms

log = logging.getLogger("homeward.detector")
SERVICE = "detector"
Side = Literal["person", "index"]
Table = MutableMapping[bytes, bytes]
# (topic, partition, offset, key, value, headers) of one consumed record.
Message = tuple[str, int, int, bytes | None, bytes | None, Sequence[tuple[str, bytes]] | None]
# Ticks for both views share health.ticks.v1: an index key always holds a
# colon ("delivery:<id>"), an id number never does.
INDEX_MARK = b":"
TICK_ID_MAX = 64  # ClockTick.case_id; the tick's record key is what names the state
# A key whose tick has been sent is not sent another until this long has
# passed: the agent may be far behind the timer, and a tick per round per key
# would bury it in ticks. A tick that changes nothing is sent again after it.
RESEND_AFTER_MS = 30_000


def side_of_tick(key: bytes | None) -> Side:
    return "index" if key and INDEX_MARK in key else "person"


class DetectorProcessor:
    def __init__(
        self,
        *,
        topology: Topology,
        windows: Windows,
        persons: Table,
        index: Table,
        send: Send,
        source: str,
        codec: Codec | None = None,
        clock: Callable[[], float] = time.time,
        actor: Actor | None = None,
        owns: Callable[[Side, bytes], bool] | None = None,
    ) -> None:
        self.windows = windows
        # Whether this worker actively owns a key of a side now (homeward.ownership):
        # its tables also hold standby copies and what a rebalance took away.
        self.owns = owns or (lambda side, key: True)
        # Keys held but not owned (standby copies) when last discovered: a table's
        # size is then what this worker schedules plus these.
        self._foreign: dict[Side, int] = {"person": 0, "index": 0}
        self.actor = actor or service_actor(SERVICE)
        self.tables: dict[Side, Table] = {"person": persons, "index": index}
        self.emitter = Emitter(
            send, service=SERVICE, dead_letter_topic=topology.get("dead_letters").name
        )
        self.source = source
        self.codec = codec or Codec()
        self.clock = clock
        self.records_topic = topology.get("health_records").name
        self.index_topic = topology.get("health_index").name
        self.ticks_topic = topology.get("health_ticks").name
        self.anomalies_topic = topology.get("anomalies").name
        self._record_kinds = {
            self.records_topic: frozenset(topology.get("health_records").values),
            self.index_topic: frozenset(topology.get("health_index").values),
        }
        # Next wake-up per key, and the same as a heap of (wake, side, key) with
        # stale entries skipped, so a timer round costs the keys that are due,
        # not every key held. States recovered from the changelog (a restart, a
        # rebalance) are found when a table's size and the schedule disagree.
        self._wake: dict[Side, dict[bytes, int | None]] = {"person": {}, "index": {}}
        self._due: list[tuple[int, Side, bytes]] = []
        self.stale_slack = 1024  # stale heap entries allowed beyond twice the schedule
        # States decided in the batch being handled, not yet stored.
        self._overlay: dict[bytes, tuple[bytes | None, int | None]] = {}

    def side_of(self, topic: str, key: bytes | None) -> Side:
        """The view a record of the detector's one agent belongs to."""
        if topic == self.ticks_topic:
            return side_of_tick(key)
        return "index" if topic == self.index_topic else "person"

    def handles(self, side: Side, topic: str, key: bytes | None) -> bool:
        """Whether the agent for `side` owns this record (both read the ticks)."""
        if topic == self.ticks_topic:
            return side_of_tick(key) == side
        return topic == (self.records_topic if side == "person" else self.index_topic)

    def _load(self, side: Side, key: bytes) -> PersonState | IndexState | None:
        if key in self._overlay:
            data: bytes | None = self._overlay[key][0]
        else:
            data = self.tables[side].get(key)
        if not data:
            return None
        doc = json.loads(data)
        return PersonState.from_json(doc) if side == "person" else IndexState.from_json(doc)

    async def process(
        self,
        side: Side,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> None:
        await self.process_batch(side, [(topic, partition, offset, key, value, headers)])

    async def process_batch(self, side: Side, messages: Sequence[Message]) -> None:
        """Handle records in order, then wait once for the broker to have all
        their output, then store their states.

        One wait per batch instead of one per record: the broker round trip is
        what limits a keyed processor. State is stored only after the output is
        acknowledged, as for a single record; until then, later records of the
        batch read the states of earlier ones from the overlay."""
        overlay: dict[bytes, tuple[bytes | None, int | None]] = {}
        self._overlay = overlay
        out: list[tuple[str, Record, str]] = []
        decided: list[tuple[str, Outcome, float]] = []
        try:
            for topic, partition, offset, key, value, headers in messages:
                if not self.handles(side, topic, key):
                    continue
                started = time.perf_counter()
                kind = "unknown"
                # 1. Decide. A record that cannot be read or breaks a rule is
                #    dead-lettered; so is one that trips a bug here, so one bad
                #    record never stops the agent.
                try:
                    decoded = self.codec.decode(value, headers)
                    kind = decoded.event.avro_name
                    state_key = self._check(side, topic, key, decoded)
                    outcome = self._plan(side, state_key, decoded)
                    # Encoded here, not in the retry loop below: a record that
                    # cannot be encoded will not encode on a retry either.
                    encoded = self._encode(state_key, decoded, outcome, value, headers)
                    stored = self._stored(outcome)
                except Exception as exc:
                    if not isinstance(
                        exc, HomewardError | pydantic.ValidationError | UnicodeDecodeError
                    ):
                        log.exception("unexpected failure on %s[%d]@%d", topic, partition, offset)
                    await self.emitter.dead_letter(
                        topic, partition, offset, key, value, headers, exc
                    )
                    HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)
                    continue
                EVENTS_CONSUMED.labels(SERVICE, topic, kind).inc()
                out += encoded
                if stored is not None:
                    overlay[state_key.encode()] = stored
                decided.append((kind, outcome, started))
        finally:
            self._overlay = {}
        # 2. Carry it out. Broker trouble is retried until it passes: giving up
        #    would lose the states, and a retry writes the same ids.
        if out:
            await self.emitter.retrying(f"emit for {len(decided)} records", lambda: self._emit(out))
        for table_key, (doc, wake) in overlay.items():
            if doc is None:
                # Every window on the key has closed: nothing of it is kept.
                if table_key in self.tables[side]:
                    del self.tables[side][table_key]
                self._wake[side].pop(table_key, None)
            else:
                self.tables[side][table_key] = doc
                self._schedule(side, table_key, wake)
        for kind, outcome, started in decided:
            for a in outcome.anomalies:
                ANOMALIES.labels(a.rule.value, a.severity.value).inc()
            if outcome.note:
                log.info("%s: %s", kind, outcome.note)
            HANDLING_SECONDS.labels(SERVICE, kind).observe(time.perf_counter() - started)

    def _stored(self, outcome: Outcome) -> tuple[bytes | None, int | None] | None:
        """(state JSON or None to delete, next wake-up); None: the table is untouched."""
        if not outcome.changed:
            return None
        state = outcome.state
        if state is None or (isinstance(state, PersonState) and state.empty()):
            return None, None
        return json.dumps(state.to_json(), separators=(",", ":")).encode(), self._wakeup(state)

    def _check(self, side: Side, topic: str, key: bytes | None, decoded: Decoded) -> str:
        """The state key the record belongs to, or a ValidationError."""
        event = decoded.event
        name = event.avro_name.rsplit(".", 1)[-1]
        if key is None:
            raise ValidationError("record has no key", field="key")
        text = key.decode("utf-8")
        if topic == self.ticks_topic:
            if not isinstance(event, ClockTick):
                raise ValidationError(f"{name} does not belong on {topic}", field="ce_type")
            return text
        if name not in self._record_kinds[topic] or not isinstance(event, HEALTH_RECORDS):
            raise ValidationError(f"{name} does not belong on {topic}", field="ce_type")
        # A hospital records for itself: a record whose actor is not of the
        # hospital it names is no evidence of anything (a forged delivery record
        # could hide a certificate anomaly), so it is dead-lettered, not judged.
        # The index view's copies are the records themselves, actor and all.
        require_agency(event, event.hospital_id, f"the {name} of hospital {event.hospital_id!r}")
        if side == "person":
            expected = [planner.subject_of(event)]
            what = "the person's id number"
        else:
            expected = planner.index_keys(event)
            what = "delivery:<delivery id> or certificate:<number>"
        if text not in expected:
            # State lives on the partition the key picks: a record keyed otherwise
            # would be judged where this person's (delivery's) other records are not.
            raise ValidationError(f"record key must be {what}", field="key")
        return text

    def _plan(self, side: Side, key: str, decoded: Decoded) -> Outcome:
        event, meta, w = decoded.event, decoded.meta, self.windows
        state = self._load(side, key.encode())
        if side == "person":
            assert state is None or isinstance(state, PersonState)
            if isinstance(event, ClockTick):
                return planner.person_tick(state, event.now, w)
            return planner.person_record(state, key, event, meta.id, meta.time, w)
        assert state is None or isinstance(state, IndexState)
        if isinstance(event, ClockTick):
            return planner.index_tick(state, event.now, w)
        return planner.index_record(state, key, event, meta.id, meta.time, w)

    def _encode(
        self,
        key: str,
        decoded: Decoded,
        outcome: Outcome,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> list[tuple[str, Record, str]]:
        out: list[tuple[str, Record, str]] = []
        for a in outcome.anomalies:
            event = stamped(a.event(), self.actor)
            record, _ = self.codec.encode(
                event,
                key=event.case_id,
                source=self.source,
                causation_id=decoded.meta.id,
                event_id=event.case_id,
                time=a.detected_at,
            )
            out.append((self.anomalies_topic, record, event.avro_name))
        if outcome.forward and isinstance(
            decoded.event, DeliveryRecorded | BirthCertificateIssued | DischargeRecorded
        ):
            # The record itself, untouched but for its key: its event id stays its
            # own, so the index view recognises a copy forwarded twice.
            assert value is not None
            for index_key in outcome.forward:
                rec = Record(index_key.encode(), value, list(headers or []))
                out.append((self.index_topic, rec, decoded.event.avro_name))
        return out

    async def _emit(self, out: list[tuple[str, Record, str]]) -> None:
        pending = [await self.emitter.send_record(topic, record) for topic, record, _ in out]
        # Wait for the broker to have every record before the state moves on:
        # if the worker dies first, the input is handled again with the same ids.
        await asyncio.gather(*pending)
        for topic, _, kind in out:
            EVENTS_PRODUCED.labels(SERVICE, topic, kind).inc()

    def _wakeup(self, state: PersonState | IndexState) -> int | None:
        if isinstance(state, PersonState):
            return planner.person_wakeup(state, self.windows)
        return planner.index_wakeup(state, self.windows)

    def _schedule(self, side: Side, key: bytes, wake: int | None) -> None:
        self._wake[side][key] = wake
        if wake is None:
            return
        heapq.heappush(self._due, (wake, side, key))
        if len(self._due) > 2 * sum(map(len, self._wake.values())) + self.stale_slack:
            # Every reschedule leaves a stale entry behind; rebuilt from the
            # schedule now and then, the heap stays the size of the state.
            self._due = [
                (w, sd, k)
                for sd, rows in self._wake.items()
                for k, w in rows.items()
                if w is not None
            ]
            heapq.heapify(self._due)

    def _discover(self) -> None:
        """Schedule the states this worker holds but has not seen decided (read
        from the changelog), and forget those it no longer holds."""
        for side, rows in self.tables.items():
            known = self._wake[side]
            if len(rows) == len(known) + self._foreign[side]:
                continue
            keys = list(rows.keys())
            held = {k for k in keys if self.owns(side, k)}
            self._foreign[side] = len(keys) - len(held)
            for key in [k for k in known if k not in held]:
                del known[key]
            for key in held.difference(known):
                try:
                    state = self._load(side, key)
                    wake = self._wakeup(state) if state else None
                except Exception:
                    # A state this version cannot read must not stop the timer for
                    # every other key; the agent dead-letters what it cannot handle.
                    log.exception("unreadable %s state", side)
                    wake = None
                self._schedule(side, key, wake)

    def forget(self) -> None:
        """A rebalance: the schedule is read again from the keys this worker owns
        now, as another worker may have changed their states meanwhile."""
        self._wake = {"person": {}, "index": {}}
        self._due = []
        self._foreign = {"person": 0, "index": 0}

    def due_ticks(self) -> list[str]:
        """Keys (among those this worker owns) with something to decide or forget."""
        now_ms = int(self.clock() * 1000)
        self._discover()
        due: list[str] = []
        while self._due and self._due[0][0] <= now_ms:
            wake, side, key = heapq.heappop(self._due)
            if self._wake[side].get(key) != wake:
                continue  # rescheduled or forgotten since
            due.append(key.decode("utf-8", "replace"))
            self._schedule(side, key, now_ms + RESEND_AFTER_MS)
        return due

    def tick(self, key: str) -> Record:
        """A ClockTick for the key as of the wall clock, for the timer to send."""
        now_ms = int(self.clock() * 1000)
        now = from_ms(now_ms)
        record, _ = self.codec.encode(
            ClockTick(case_id=key[:TICK_ID_MAX], now=now, actor=self.actor),
            key=key,
            source=self.source,
            event_id=derive_id(key, "tick", str(now_ms)),
            time=now,
        )
        return record
