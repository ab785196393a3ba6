"""The referral router on the real broker: the worker is its own process.

One router serves the module's tests (starting a Faust worker costs more
than the tests themselves); each test works on cases of its own, so none
sees another's records. Records are published straight to the router's
topics, as intake and the agencies would. Time moves with ClockTick records
carrying a chosen `now`, never by waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from homeward.actors import agency_actor
from homeward.agencies import AgencyType, dump_directory
from homeward.codec import Codec, Decoded
from homeward.events import (
    AlertCancelled,
    CancelReason,
    ClockTick,
    DnaComparisonRecorded,
    Event,
    HouseholdRegistration,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReferralStatusChanged,
    ReportAcknowledged,
    ReportOverdue,
    RescuedPerson,
    TaskStatus,
)
from homeward.events.base import utcnow
from homeward.geo import haversine_km
from homeward.kafka import producer, send_all
from homeward.projections import default_projections
from homeward_referrals.rules import load_rules, referrals_file
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader, service
from tests.unit.referrals.world import AGENCIES, CENTRE, REMOTE, answer, ids, report, rescue

pytestmark = pytest.mark.integration
T = AgencyType
S = TaskStatus
HOUR = timedelta(hours=1)


@dataclass
class Router:
    """The running router and what the tests need to talk to it."""

    bus: Bus
    reader: TopicReader
    producer: KafkaProducer
    codec: Codec

    def publish(
        self, topic_id: str, event: Event, *, key: str | None = None, at: datetime | None = None
    ) -> str:
        rec, meta = self.codec.encode(
            event, key=key or event.case_id, source="/test/agency", time=at or utcnow()
        )
        send_all(self.producer, [(self.bus.topic(topic_id), rec)])
        return meta.id

    def barrier(self, topic_id: str, key: str) -> None:
        """Wait until the router has handled everything already on `key`'s partition
        of the topic: a record it cannot read goes to the dead letters in order."""
        token = f"barrier-{uuid.uuid4().hex}".encode()
        topic = self.bus.topic(topic_id)
        self.producer.send(topic, key=key.encode(), value=token).get(30)
        dlq = self.bus.topic("dead_letters")
        self.reader.until(
            lambda r: any(t == dlq and v == token for t, _, v, _ in r.records), 60, "barrier"
        )
        self.reader.poll()

    def events(self, case_id: str, topic_id: str | None = None) -> list[tuple[str, bytes, Decoded]]:
        """(topic, key, decoded) of the case's records read so far, in order."""
        topic = self.bus.topic(topic_id) if topic_id else None
        subject = case_id.encode()
        return [
            (t, k or b"", self.codec.decode(v, h))
            for t, k, v, h in self.reader.records
            if (topic is None or t == topic) and dict(h).get("ce_subject") == subject
        ]

    def of(self, case_id: str, kind: type, topic_id: str | None = None) -> list[Any]:
        return [d.event for _, _, d in self.events(case_id, topic_id) if isinstance(d.event, kind)]

    def wait(self, what: str, cond: Any, timeout: float = 60) -> None:
        self.reader.until(lambda _: bool(cond()), timeout, what)


def ms(t: datetime) -> datetime:
    """A time as the wire carries it: to the millisecond."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def inbox_ids(bus: Bus) -> list[str]:
    return [bus.topology.inbox(t).name for t in AgencyType]


@pytest.fixture(scope="module")
def router(bus_factory_module: Any, tmp_path_factory: Any) -> Iterator[Router]:
    bus: Bus = bus_factory_module()
    tmp: Path = tmp_path_factory.mktemp("referrals")
    dump_directory(list(AGENCIES), tmp / "agencies.csv")
    env = bus.env(
        "referrals",
        HOMEWARD_REFERRALS_DIRECTORY=str(tmp / "agencies.csv"),
        HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
        F_DATADIR=str(tmp / "faust-data"),
    )
    svc = service(["-m", "homeward_referrals"], env, tmp / "referrals.log").start("REFERRALS_READY")
    topics = [
        *inbox_ids(bus),
        bus.topic("referral_events"),
        bus.topic("alert_events"),
        bus.topic("dead_letters"),
    ]
    reader = TopicReader(bus.settings, topics)
    p = producer(bus.settings)
    try:
        yield Router(bus, reader, p, Codec())
        assert svc.running, "the router died during the tests"
    finally:
        p.close()
        reader.close()
        svc.stop()


def new_case(tag: str) -> str:
    return f"CASE-{tag}-{uuid.uuid4().hex[:8]}"


def person_for(when: dict[str, Any]) -> RescuedPerson:
    """A rescued person who meets every condition of a row of the table."""
    low = (when.get("age_years") or {}).get("min", 0)
    high = (when.get("age_years") or {}).get("max", 120)
    if when.get("child") is True:
        high = min(high, 17)
    if when.get("child") is False:
        low = max(low, 18)
    return RescuedPerson(
        name="Test Person 3",
        sex="male",
        age_years=max(low, min(high, 9)),
        guardians_known=when.get("guardians_known", True),
        identity_known=when.get("identity_known", True),
        disabilities=["hearing"] if when.get("disabled") else [],
        household_registration=HouseholdRegistration.LOCAL,
        has_means=when.get("has_means", True),
    )


# Rows offered at the rescue; the clocked one has its own test below.
ROWS = [r for r in yaml.safe_load(referrals_file().read_text())["rules"] if "after" not in r]


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_each_routing_row_reaches_the_nearest_agency_of_its_type(
    router: Router, row: dict[str, Any]
) -> None:
    who = person_for(row.get("when") or {})
    assert row["id"] in {r.id for r in load_rules().matching(who)}
    case = new_case("ROW")
    r = rescue(case, who)
    at = utcnow()
    router.publish("rescues", r, at=at)
    inbox = router.bus.topology.inbox(row["to"]).name

    def request() -> tuple[str, bytes, Decoded] | None:
        return next(
            (
                (t, k, d)
                for t, k, d in router.events(case)
                if isinstance(d.event, ReferralRequested) and d.event.rule_id == row["id"]
            ),
            None,
        )

    router.wait(f"the {row['id']} referral", request)
    found = request()
    assert found is not None
    topic, key, decoded = found
    q = decoded.event
    assert isinstance(q, ReferralRequested)
    nearest = min(
        (a for a in AGENCIES if a.type.value == row["to"]),
        key=lambda a: haversine_km(*CENTRE, a.latitude, a.longitude),
    )
    assert topic == inbox and q.agency_id == nearest.id and q.agency_type == row["to"]
    assert key == nearest.id.encode()
    assert (q.offer, q.requested_at, q.cites) == (1, decoded.meta.time, row["cites"])
    rule = load_rules().get(row["id"])
    assert rule is not None and q.requested_at == ms(at)
    assert (q.answer_due, q.complete_due) == (
        q.requested_at + rule.answer,
        q.requested_at + rule.complete,
    )
    assert q.victim == default_projections().victim_profile(r, row["to"])
    police = row["to"] == "police"
    assert decoded.meta.classification.value == ("police-only" if police else "restricted")
    router.wait(
        "the request logged",
        lambda: any(
            c.referral_id == q.referral_id and c.status == S.REQUESTED
            for c in router.of(case, ReferralStatusChanged, "referral_events")
        ),
    )


def request_for(router: Router, case: str, rule_id: str, offer: int = 1) -> ReferralRequested:
    def find() -> ReferralRequested | None:
        return next(
            (
                q
                for q in router.of(case, ReferralRequested)
                if q.rule_id == rule_id and q.offer == offer
            ),
            None,
        )

    router.wait(f"{rule_id} offer {offer}", find)
    found = find()
    assert found is not None
    return found


def test_a_rejection_is_re_offered_to_the_next_nearest_then_escalated(router: Router) -> None:
    case = new_case("REOFFER")
    router.publish("rescues", rescue(case))
    j1, j2, _ = ids(T.JUSTICE)
    first = request_for(router, case, "legal_aid")
    assert first.agency_id == j1
    router.publish(
        "referral_answers", answer(first.referral_id, j1, S.REJECTED, case, reason="no_capacity")
    )
    second = request_for(router, case, "legal_aid", offer=2)
    assert (second.referral_id, second.agency_id) == (first.referral_id, j2)
    router.publish(
        "referral_answers", answer(first.referral_id, j2, S.REJECTED, case, reason="out_of_area")
    )
    router.wait("the escalation", lambda: len(router.of(case, ReferralEscalated)) >= 2)
    office = router.of(case, ReferralEscalated, "inbox.coordination_office")
    log = router.of(case, ReferralEscalated, "referral_events")
    assert office == log and office[0].offers == 2 and office[0].last_reason == "out_of_area"
    # Police's referrals are answered on the police topic and re-offered on police's inbox.
    p1, p2, _ = ids(T.POLICE)
    dna = request_for(router, case, "dna_sampling")
    router.publish(
        "police_referrals", answer(dna.referral_id, p1, S.REJECTED, case, reason="other")
    )
    again = request_for(router, case, "dna_sampling", offer=2)
    assert again.agency_id == p2
    police_inbox = router.events(case, "inbox.police")
    assert all(d.meta.classification.value == "police-only" for _, _, d in police_inbox)


def test_no_agency_within_reach_escalates_at_once_with_no_offers(router: Router) -> None:
    case = new_case("FAR")
    r = rescue(case, where=REMOTE)
    router.publish("rescues", r)
    rules = load_rules().at_rescue(r.person)
    router.wait(
        "every referral escalated",
        lambda: len(router.of(case, ReferralEscalated, "inbox.coordination_office")) == len(rules),
    )
    # To the office nearest the rescue (OFF-3), not to every office.
    office = router.events(case, "inbox.coordination_office")
    assert {k for _, k, _ in office} == {b"OFF-3"}
    escalated = [d.event for _, _, d in office]
    assert sorted(e.rule_id for e in escalated) == sorted(r.id for r in rules)
    assert all(isinstance(e, ReferralEscalated) and e.offers == 0 for e in escalated)
    assert router.of(case, ReferralRequested) == []


def test_illegal_steps_and_strangers_are_refused_to_the_answering_agency(router: Router) -> None:
    case = new_case("ILLEGAL")
    router.publish("rescues", rescue(case))
    q = request_for(router, case, "psychological_care")
    h1, h2, _ = ids(T.HEALTH)
    bad = router.publish(
        "referral_answers", answer(q.referral_id, h1, S.COMPLETED, case, outcome="not_needed")
    )
    stranger = router.publish("referral_answers", answer(q.referral_id, h2, S.ACCEPTED, case))
    unknown = router.publish("referral_answers", answer("NO-SUCH-REFERRAL", h2, S.ACCEPTED, case))
    good = router.publish("referral_answers", answer(q.referral_id, h1, S.ACCEPTED, case))
    router.wait(
        "the accepted answer logged",
        lambda: any(c.answer_event_id == good for c in router.of(case, ReferralStatusChanged)),
    )
    refused = {e.answer_event_id: e for e in router.of(case, ReferralAnswerRefused, "inbox.health")}
    assert refused[bad].reason.startswith("status: cannot go from requested to completed")
    assert refused[bad].current_status == S.REQUESTED and refused[bad].agency_id == h1
    assert refused[stranger].reason == "the referral is not offered to this agency"
    assert refused[unknown].reason == "no such referral"
    # Each refusal goes to the agency that answered, and to the log.
    assert {
        (k.decode(), d.event.answer_event_id)
        for _, k, d in router.events(case, "inbox.health")
        if isinstance(d.event, ReferralAnswerRefused)
    } == {(h1, bad), (h2, stranger), (h2, unknown)}
    logged = router.of(case, ReferralAnswerRefused, "referral_events")
    assert {e.answer_event_id for e in logged} == {bad, stranger, unknown}
    changes = [c for c in router.of(case, ReferralStatusChanged) if c.referral_id == q.referral_id]
    assert [(c.previous_status, c.status) for c in changes] == [
        (None, S.REQUESTED),
        (S.REQUESTED, S.ACCEPTED),
    ]


def test_a_forged_answer_is_refused_and_changes_nothing(router: Router) -> None:
    """A referral rejected "as" the agency holding it, by a writer that is not
    that agency (no actor, or another agency's): refused, named, and the
    referral stays where it was; the holder's own answer then goes through."""
    case = new_case("FORGED")
    router.publish("rescues", rescue(case))
    q = request_for(router, case, "psychological_care")
    holder = q.agency_id
    no_actor = router.publish(
        "referral_answers",
        answer(q.referral_id, holder, S.REJECTED, case, reason="no_capacity", actor=None),
    )
    foreign = router.publish(
        "referral_answers",
        answer(
            q.referral_id,
            holder,
            S.REJECTED,
            case,
            reason="no_capacity",
            actor=agency_actor("HL-NOT-THE-HOLDER", "health"),
        ),
    )
    good = router.publish("referral_answers", answer(q.referral_id, holder, S.ACCEPTED, case))
    router.wait(
        "the holder's answer logged",
        lambda: any(c.answer_event_id == good for c in router.of(case, ReferralStatusChanged)),
    )
    refused = {e.answer_event_id: e for e in router.of(case, ReferralAnswerRefused, "inbox.health")}
    assert refused[no_actor].reason.startswith("actor: the answer carries no actor")
    assert refused[foreign].reason.startswith("actor.agency_id: the answer is for")
    assert "HL-NOT-THE-HOLDER" in refused[foreign].reason
    # Not re-offered, not escalated: the only steps are the offer and the real answer.
    assert [
        r.offer for r in router.of(case, ReferralRequested) if r.referral_id == q.referral_id
    ] == [1]
    changes = [c for c in router.of(case, ReferralStatusChanged) if c.referral_id == q.referral_id]
    assert [(c.previous_status, c.status) for c in changes] == [
        (None, S.REQUESTED),
        (S.REQUESTED, S.ACCEPTED),
    ]
    # What the router decides carries its own actor.
    assert all(c.actor is not None and c.actor.principal == "homeward-referrals" for c in changes)


def test_a_report_acknowledgement_not_from_police_stops_no_clock(router: Router) -> None:
    rid = new_case("REP-FORGED")
    at = utcnow()
    router.publish("reports", report(rid), at=at)
    for actor in (None, agency_actor("HL-1", "health")):
        ack = ReportAcknowledged(
            case_id=rid, police_unit="Not Police", agency_id="HL-1", actor=actor
        )
        router.publish("reports", ack, at=at + timedelta(minutes=5))
    router.barrier("reports", rid)
    dlq = router.bus.topic("dead_letters")
    fields = [
        dict(h)["dlq_field"]
        for t, k, _, h in router.reader.records
        if t == dlq and k == rid.encode()
    ]
    # (the barrier's own token is a dead letter too: it names the CloudEvents header)
    assert fields == [b"actor", b"actor.agency_type", b"headers.ce_specversion"]
    router.publish("referral_ticks", ClockTick(case_id=rid, now=at + 2 * HOUR))
    router.wait("the overdue report", lambda: router.of(rid, ReportOverdue, "referral_events"))


def test_after_an_unsuccessful_family_search_the_child_is_referred_for_admission(
    router: Router,
) -> None:
    """The clocked row (Ninghe 二(二)5, Sichuan 13): the notice period after the
    family-search notice is completed, admission and household registration are
    asked of civil affairs; not for the child whose family police found first."""
    searched, found = new_case("REG"), new_case("REG")
    at = utcnow()
    for case in (searched, found):
        router.publish("rescues", rescue(case), at=at)
    for case in (searched, found):
        notice = request_for(router, case, "family_search_notice")
        for status, kw in (
            (S.ACCEPTED, {}),
            (S.IN_PROGRESS, {}),
            (S.COMPLETED, {"outcome": "service_provided"}),
        ):
            router.publish(
                "referral_answers",
                answer(notice.referral_id, notice.agency_id, status, case, **kw),
                at=at + HOUR,
            )
    match = DnaComparisonRecorded(
        case_id=found,
        sample_id="DNA-TEST-REG-1",
        database="Fictional national DNA database",
        result="match",
        compared_at=at + 2 * HOUR,
        actor=agency_actor(ids(T.POLICE)[0], "police"),
    )
    router.publish("police_referrals", match, at=at + 2 * HOUR)
    period = load_rules().get("admission_registration").wait
    assert period is not None
    for case in (searched, found):
        router.barrier("referral_answers", case)
        router.barrier("police_referrals", case)

    def asked(case: str) -> list[ReferralRequested]:
        return [
            q for q in router.of(case, ReferralRequested) if q.rule_id == "admission_registration"
        ]

    for case in (searched, found):  # a second before the period ends: nothing yet
        router.publish(
            "referral_ticks", ClockTick(case_id=case, now=at + HOUR + period - timedelta(seconds=1))
        )
        router.barrier("referral_ticks", case)
        assert asked(case) == []
    for case in (searched, found):
        router.publish("referral_ticks", ClockTick(case_id=case, now=at + HOUR + period))
    request = request_for(router, searched, "admission_registration")
    assert request.agency_type == "civil_affairs" and "buying family" in request.service
    assert request.agency_id == ids(T.CIVIL_AFFAIRS)[0]  # the nearest
    router.barrier("referral_ticks", found)
    assert asked(found) == []  # the family was found: no admission, no registration


def test_deadlines_are_judged_as_of_a_ticks_time_and_raised_once(router: Router) -> None:
    case = new_case("LATE")
    r = rescue(case)
    at = utcnow()
    router.publish("rescues", r, at=at)
    rules = load_rules().at_rescue(r.person)
    accepted = request_for(router, case, "health_check")
    for q in rules:
        request_for(router, case, q.id)
    ok = router.publish(
        "referral_answers", answer(accepted.referral_id, accepted.agency_id, S.ACCEPTED, case)
    )
    router.wait(
        "the acceptance logged",
        lambda: any(c.answer_event_id == ok for c in router.of(case, ReferralStatusChanged)),
    )

    def expected(after: timedelta) -> set[tuple[str, str]]:
        due = set()
        for rule in rules:
            if rule.answer < after and rule.id != "health_check":
                due.add((rule.id, "answer"))
            if rule.complete < after:
                due.add((rule.id, "completion"))
        return due

    def overdue() -> list[tuple[str, str]]:
        return [(o.rule_id, o.phase) for o in router.of(case, ReferralOverdue, "referral_events")]

    for after in (HOUR + timedelta(seconds=1), 2 * HOUR, 3 * HOUR, 30 * HOUR):
        router.publish("referral_ticks", ClockTick(case_id=case, now=at + after))
        want = expected(after)
        router.wait(f"overdue after {after}", lambda want=want: set(overdue()) >= want)
        router.barrier("referral_ticks", case)
        assert sorted(overdue()) == sorted(want)  # each phase once, none early
    office = router.of(case, ReferralOverdue, "inbox.coordination_office")
    assert sorted((o.rule_id, o.phase) for o in office) == sorted(overdue())
    assert ("health_check", "answer") not in overdue()  # accepted in time


def test_reports_overdue_only_without_acknowledgement_in_time(router: Router) -> None:
    late, on_time = new_case("REP"), new_case("REP")
    at = utcnow()
    router.publish("reports", report(late), at=at)
    router.publish("reports", report(on_time), at=at)
    router.publish(
        "reports",
        ReportAcknowledged(
            case_id=on_time,
            police_unit="Sampleville Police Unit",
            agency_id=ids(T.POLICE)[0],
            actor=agency_actor(ids(T.POLICE)[0], "police"),
        ),
        at=at + timedelta(minutes=20),
    )
    for rid in (late, on_time):
        router.barrier("reports", rid)
        router.publish("referral_ticks", ClockTick(case_id=rid, now=at + 2 * HOUR))
    router.wait("the overdue report", lambda: router.of(late, ReportOverdue, "referral_events"))
    router.barrier("referral_ticks", on_time)
    (notice,) = router.of(late, ReportOverdue, "inbox.coordination_office")
    assert notice == router.of(late, ReportOverdue, "referral_events")[0]
    assert (notice.sector.value, notice.area) == ("education", "990101")  # never the place
    assert notice.filed_at == ms(at)  # the report's own time, not when the router read it
    assert notice.due_at == notice.filed_at + HOUR
    assert router.of(on_time, ReportOverdue) == []


def test_a_rescue_that_closes_the_alert_cancels_it_as_found(router: Router) -> None:
    case = new_case("FOUND")
    rescue_id = router.publish("rescues", rescue(case, closes_alert=True))
    router.wait("the cancellation", lambda: router.events(case, "alert_events"))
    ((_, key, d),) = router.events(case, "alert_events")
    assert key == case.encode()
    assert isinstance(d.event, AlertCancelled) and d.event.reason == CancelReason.FOUND
    assert d.meta.causation_id == rescue_id and d.meta.classification.value == "restricted"


def test_a_corrupt_record_is_dead_lettered_and_the_next_one_handled(router: Router) -> None:
    case = new_case("CORRUPT")
    topic = router.bus.topic("rescues")
    router.producer.send(topic, key=case.encode(), value=b"\xc3\x01junk").get(30)
    router.publish("rescues", rescue(case))
    request_for(router, case, "legal_aid")
    dlq = router.bus.topic("dead_letters")
    (letter,) = [rec for rec in router.reader.records if rec[0] == dlq and rec[1] == case.encode()]
    headers = dict(letter[3])
    assert letter[2] == b"\xc3\x01junk"
    assert headers["dlq_topic"] == topic.encode() and headers["dlq_service"] == b"referrals"
    assert headers["dlq_field"] == b"headers.ce_specversion"
