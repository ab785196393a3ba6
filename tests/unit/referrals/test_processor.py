"""The processor around the planner: decoding, topic and key checks, dead
letters, retries, stored state and the timer's ticks, with a send function
that stands in for the producer (the flows run on the real broker in
tests/integration/test_referrals.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import pytest

from homeward import processing
from homeward.codec import Codec
from homeward.events import (
    ClockTick,
    DnaComparisonRecorded,
    ReportAcknowledged,
    TaskStatus,
)
from homeward.topology import Topology
from homeward_referrals.processor import ReferralProcessor
from homeward_referrals.state import to_ms
from tests.unit.referrals.world import (
    DNA_CANARY,
    NOTE_CANARY,
    POLICE_DESK,
    T0,
    answer,
    report,
    rescue,
    router,
)

TOPOLOGY = Topology.load(prefix="")
RESCUES = TOPOLOGY.get("rescues").name
ANSWERS = TOPOLOGY.get("referral_answers").name
POLICE_REFERRALS = TOPOLOGY.get("police_referrals").name
TICKS = TOPOLOGY.get("referral_ticks").name
REPORTS = TOPOLOGY.get("reports").name
LOG = TOPOLOGY.get("referral_events").name
DLQ = TOPOLOGY.get("dead_letters").name


class FlakySend:
    """Fails the first `failures` sends, then records every send."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, bytes, bytes, dict[str, bytes]]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes, headers: Any) -> Awaitable[Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker not available")
        self.sent.append((topic, key, value, dict(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def topics(self) -> list[str]:
        return [t for t, *_ in self.sent]


class World:
    def __init__(self, failures: int = 0, clock: float | None = None) -> None:
        self.send = FlakySend(failures)
        self.cases: dict[bytes, bytes] = {}
        self.reports: dict[bytes, bytes] = {}
        self.offset = 0
        self.processor = ReferralProcessor(
            topology=TOPOLOGY,
            router=router(),
            cases=self.cases,
            reports=self.reports,
            send=self.send,
            source="/test/referrals",
            clock=lambda: clock if clock is not None else to_ms(T0) / 1000,
        )

    def feed(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        self.offset += 1
        asyncio.run(self.processor.process(topic, 0, self.offset, key, value, headers))

    def publish(
        self, topic: str, event: Any, key: str | None = None, eid: str | None = None
    ) -> str:
        rec, meta = Codec().encode(
            event, key=key or event.case_id, source="/test/police", time=T0, event_id=eid
        )
        self.feed(topic, rec.key, rec.value, rec.headers)
        return meta.id

    def decoded(self, topic: str) -> list[Any]:
        codec = Codec()
        return [
            codec.decode(v, list(h.items())).event for t, _, v, h in self.send.sent if t == topic
        ]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "RETRY_FIRST_SECONDS", 0.001)


def test_a_rescue_is_routed_and_its_state_stored_once_the_broker_has_everything() -> None:
    w = World(failures=2)
    w.publish(RESCUES, rescue())
    assert DLQ not in w.send.topics()
    inboxes = [t for t in w.send.topics() if "inbox" in t]
    assert len(inboxes) == 8  # a child without guardians, 9: eight referrals
    police = [h for t, _, _, h in w.send.sent if t == "police.inbox.v1"]
    assert police and all(h["ce_classification"] == b"police-only" for h in police)
    others = [h for t, _, _, h in w.send.sent if t.startswith("inbox.")]
    assert others and all(h["ce_classification"] == b"restricted" for h in others)
    assert all(h["ce_correlationid"] == b"CASE-R-1" for *_, h in w.send.sent)
    assert b"CASE-R-1" in w.cases
    stored = w.cases[b"CASE-R-1"].decode()
    assert DNA_CANARY not in stored and NOTE_CANARY not in stored


def test_the_same_record_twice_writes_the_same_ids_and_nothing_more() -> None:
    w = World()
    rec, _ = Codec().encode(rescue(), key="CASE-R-1", source="/t", time=T0, event_id="fixed")
    w.feed(RESCUES, rec.key, rec.value, rec.headers)
    first = list(w.send.sent)
    w.feed(RESCUES, rec.key, rec.value, rec.headers)
    assert w.send.sent == first


@pytest.mark.parametrize(
    ("topic", "make", "key", "field"),
    [
        (RESCUES, lambda: b"\xc3\x01garbage", "CASE-R-1", b"headers.ce_specversion"),
        (ANSWERS, lambda: rescue(), "CASE-R-1", b"ce_type"),  # a rescue on a restricted topic
        (RESCUES, lambda: rescue(), "SOMETHING-ELSE", b"key"),
        (
            REPORTS,
            lambda: ReportAcknowledged(
                case_id="REP-9",
                police_unit="Sampleville Police Unit",
                agency_id="POL-1",
                actor=POLICE_DESK,
            ),
            "REP-9",
            b"case_id",
        ),
        (ANSWERS, lambda: answer("R-1", "NOBODY-1", TaskStatus.ACCEPTED), "CASE-R-1", b"agency_id"),
    ],
)
def test_every_failure_is_dead_lettered_with_its_origin_and_nothing_else_happens(
    topic: str, make: Any, key: str, field: bytes
) -> None:
    w = World()
    made = make()
    if isinstance(made, bytes):
        w.feed(topic, key.encode(), made, [("ce_id", b"x")])
    else:
        w.publish(topic, made, key=key)
    ((dlq, dkey, _, headers),) = w.send.sent
    assert dlq == DLQ and dkey == key.encode()
    assert headers["dlq_field"] == field
    assert headers["dlq_topic"] == topic.encode() and headers["dlq_service"] == b"referrals"
    assert w.cases == {} and w.reports == {}


def test_a_dna_comparison_on_the_police_topic_is_accepted_and_ignored() -> None:
    w = World()
    w.publish(
        POLICE_REFERRALS,
        DnaComparisonRecorded(
            case_id="CASE-R-1",
            sample_id="DNA-S-1",
            database="Fictional National Database",
            result="no_match",
            compared_at=T0,
        ),
    )
    assert w.send.sent == [] and w.cases == {}


def test_answers_from_either_answer_topic_move_the_referral() -> None:
    w = World()
    w.publish(RESCUES, rescue())
    state = json.loads(w.cases[b"CASE-R-1"])
    refs = {r["rule_id"]: r for r in state["referrals"].values()}
    w.send.sent.clear()
    dna = refs["dna_sampling"]
    w.publish(POLICE_REFERRALS, answer(dna["referral_id"], dna["agency_id"], "accepted"))
    aid = refs["legal_aid"]
    w.publish(ANSWERS, answer(aid["referral_id"], aid["agency_id"], "received"))
    assert [e.status for e in w.decoded(LOG)] == [TaskStatus.ACCEPTED, TaskStatus.RECEIVED]
    assert NOTE_CANARY not in json.dumps([e.model_dump(mode="json") for e in w.decoded(LOG)])


def test_the_timer_ticks_only_cases_and_reports_with_a_deadline_passed() -> None:
    late = (to_ms(T0) + 3 * 3_600_000) / 1000  # three hours on
    w = World(clock=late)
    w.publish(RESCUES, rescue())  # the welfare placement's answer is due in 1 h
    w.publish(REPORTS, report())  # due in 1 h
    w.publish(RESCUES, rescue(case_id="CASE-R-2"), eid="r2")
    assert sorted(w.processor.due_ticks()) == ["CASE-R-1", "CASE-R-2", "REP-1"]
    w.send.sent.clear()
    # A tick is an ordinary record: the agent that owns the case judges it.
    tick = w.processor.tick("REP-1")
    decoded = Codec().decode(tick.value, tick.headers)
    assert isinstance(decoded.event, ClockTick) and decoded.event.now == T0 + timedelta(hours=3)
    w.feed(TICKS, tick.key, tick.value, tick.headers)
    assert [type(e).__name__ for e in w.decoded(LOG)] == ["ReportOverdue"]
    assert sorted(w.processor.due_ticks()) == ["CASE-R-1", "CASE-R-2"]
    # State recovered from the changelog (a fresh processor) is found as well.
    fresh = World(clock=late)
    fresh.cases.update(w.cases)
    fresh.reports.update(w.reports)
    assert sorted(fresh.processor.due_ticks()) == ["CASE-R-1", "CASE-R-2"]


def test_unreadable_state_does_not_stop_the_timer() -> None:
    w = World()
    w.cases[b"BROKEN"] = b"{not json"
    w.publish(REPORTS, report())
    assert w.processor.due_ticks() == []


def test_a_dna_match_not_from_police_is_dead_lettered_and_the_family_is_not_found() -> None:
    from homeward.actors import agency_actor
    from homeward.events import DnaComparisonRecorded
    from homeward_referrals.state import CaseState

    w = World()
    w.publish(RESCUES, rescue())
    forged = DnaComparisonRecorded(
        case_id="CASE-R-1",
        sample_id="DNA-TEST-FORGED",
        database="Fictional database",
        result="match",
        compared_at=T0,
        actor=agency_actor("CA-1", "civil_affairs"),
    )
    w.publish(POLICE_REFERRALS, forged)
    assert DLQ in w.send.topics()
    state = CaseState.from_json(json.loads(w.cases[b"CASE-R-1"]))
    assert not state.family_found
    w.publish(
        POLICE_REFERRALS,
        forged.model_copy(update={"actor": agency_actor("POL-1", "police")}),
    )
    assert CaseState.from_json(json.loads(w.cases[b"CASE-R-1"])).family_found
