"""The agency SDK's referral side and police's report desk on the real broker:
referrals arrive in the inbox (police's is police.inbox.v1), answers go to
police.referrals.v1 for police and referrals.answers.v1 for everyone else,
a refused step publishes nothing, a mandatory report makes the round trip to
its acknowledgement, and the fleet answers by its policy."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from homeward.events import (
    MandatoryReportFiled,
    ReferralAnswered,
    ReportAcknowledged,
    TaskStatus,
)
from homeward_agency import Delivery, Fleet, PlannedAnswer, ReportDesk, Subscriber, TransitionError
from tests.fixtures.bus import Bus
from tests.integration.agency_broker_io import (
    Collector,
    acks,
    cli,
    codec,
    produce,
    read_topic,
    running,
)
from tests.unit.agency import samples as s

pytestmark = pytest.mark.integration


def answers_on(bus: Bus, topic_id: str, count: int | None = None) -> list[tuple[Any, Any]]:
    until = None if count is None else (lambda rs: len(rs) >= count)
    records = read_topic(bus, bus.topic(topic_id), until)
    return [(r, codec.decode(r.value, r.headers).event) for r in records]


def test_answers_go_to_the_topic_of_the_answering_agencys_type(bus: Bus) -> None:
    assert bus.topology.inbox("police").name == f"{bus.prefix}police.inbox.v1"
    produce(
        bus,
        bus.topology.inbox("police").name,
        [s.encode(codec, s.referral("PS-IT-1", "REF-DNA", agency_type="police"), "PS-IT-1")],
    )
    produce(
        bus,
        bus.topology.inbox("health").name,
        [s.encode(codec, s.referral("HL-IT-1", "REF-HC"), "HL-IT-1")],
    )
    police_seen, health_seen = Collector(), Collector()
    police = Subscriber("PS-IT-1", "police", bus.settings_for("police"))
    health = Subscriber("HL-IT-1", "health", bus.settings_for("health"))
    with running(police, police_seen), running(health, health_seen):
        police_seen.wait_for(1)
        health_seen.wait_for(1)
        [dna] = police_seen.shown
        [check] = health_seen.shown
        assert (dna.kind, check.kind) == ("referral", "referral")
        police.answer(dna, "accepted", note="Sample taken (test).")
        health.answer(check, "rejected", reason="no_capacity")
        # A second answer after a final one is refused locally and publishes nothing.
        with pytest.raises(TransitionError) as err:
            health.answer(check, "accepted")
        assert err.value.field == "status"
    [(police_record, police_answer)] = answers_on(bus, "police_referrals", 1)
    [(health_record, health_answer)] = answers_on(bus, "referral_answers")
    assert police_record.key == health_record.key == b"CASE-TEST-1"
    assert isinstance(police_answer, ReferralAnswered) and isinstance(
        health_answer, ReferralAnswered
    )
    assert (police_answer.agency_id, police_answer.status) == ("PS-IT-1", TaskStatus.ACCEPTED)
    assert (health_answer.agency_id, health_answer.reason) == (
        "HL-IT-1",
        s.RejectionReason.NO_CAPACITY,
    )
    # Referrals are answered, never acknowledged.
    assert acks(bus) == []
    assert police.stats().answers_sent == health.stats().answers_sent == 1


def test_the_cli_shows_referrals_and_notices_and_acknowledges_none(bus: Bus) -> None:
    me = "CO-IT-1"
    produce(
        bus,
        bus.topology.inbox("coordination_office").name,
        [
            s.encode(codec, s.referral_overdue("HL-LATE"), me),
            s.encode(codec, s.referral_escalated(), me),
            s.encode(codec, s.report_overdue(), me),
        ],
    )
    with cli(bus, "--agency-id", me, "--agency-type", "coordination_office", "--json") as run:
        got = [json.loads(line) for line in run.take(3)]
        assert run.stop() == 0, run.stderr
    assert [o["kind"] for o in got] == ["referral_overdue", "referral_escalated", "report_overdue"]
    assert got[0]["referral_id"] == "REF-TEST-1" and got[2]["delivery_id"] == "RPT-TEST-1"
    assert acks(bus) == []


def test_a_mandatory_report_round_trip_through_the_desk(bus: Bus) -> None:
    topic = bus.topic("reports")
    filed = [s.report("RPT-IT-1"), s.report("RPT-IT-2")]
    produce(bus, topic, [s.encode(codec, r, r.case_id) for r in filed])
    group = f"{bus.prefix}homeward-police-report-desk"
    stop = threading.Event()
    seen: list[str] = []
    # A bound, not a wait: the loop ends as soon as both reports are handled.
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    with ReportDesk(bus.settings_for("police"), group_id=group) as desk:
        assert desk.topic == topic
        for report in desk.reports(stop, poll_timeout=0.2):
            assert isinstance(report.report, MandatoryReportFiled)
            desk.acknowledge(report, police_unit="Fakeville Test Unit", agency_id="PS-IT-1")
            seen.append(report.report_id)
            if len(seen) == 2:
                stop.set()
    watchdog.cancel()
    assert sorted(seen) == ["RPT-IT-1", "RPT-IT-2"]
    records = read_topic(bus, topic, lambda rs: len(rs) >= 4)
    decoded = [codec.decode(r.value, r.headers) for r in records]
    acknowledged = {
        d.event.case_id: (r.key, d)
        for r, d in zip(records, decoded, strict=True)
        if isinstance(d.event, ReportAcknowledged)
    }
    assert sorted(acknowledged) == ["RPT-IT-1", "RPT-IT-2"]
    for report_id, (key, ack) in acknowledged.items():
        assert key == report_id.encode()
        assert ack.meta.classification.value == "police-only"
        assert ack.event.agency_id == "PS-IT-1"
    # The desk committed what it handed out: a restart in the same group is handed
    # only what is filed after (read until that one comes, never waiting on nothing).
    produce(bus, topic, [s.encode(codec, s.report("RPT-IT-3"), "RPT-IT-3")])
    later: list[str] = []
    with ReportDesk(bus.settings_for("police"), group_id=group) as again:
        deadline = time.monotonic() + 60
        while "RPT-IT-3" not in later:
            assert time.monotonic() < deadline, later
            later += [f.report_id for f in again.poll(0.5)]
    assert later == ["RPT-IT-3"]


def test_the_fleet_answers_referrals_by_its_policy(bus: Bus) -> None:
    produce(
        bus,
        bus.topology.inbox("civil_affairs").name,
        [
            s.encode(codec, s.referral("CA-IT-1", "REF-1", agency_type="civil_affairs"), "CA-IT-1"),
            s.encode(codec, s.referral("CA-IT-2", "REF-2", agency_type="civil_affairs"), "CA-IT-2"),
        ],
    )

    def policy(delivery: Delivery) -> list[PlannedAnswer]:
        if delivery.key == "CA-IT-2":
            return [PlannedAnswer("rejected", reason="no_capacity")]
        return [PlannedAnswer("accepted"), PlannedAnswer("in-progress", after=0.1)]

    fleet = Fleet(
        bus.settings_for("civil_affairs"),
        agency_types=["civil_affairs"],
        group_id=f"{bus.prefix}homeward-agency-fleet",
        answer_policy=policy,
    ).start()
    try:
        got = answers_on(bus, "referral_answers", 3)
    finally:
        stats = fleet.stop()
    by_agency: dict[str, list[str]] = {}
    for _r, event in got:
        by_agency.setdefault(event.agency_id, []).append(event.status.value)
    assert by_agency == {"CA-IT-1": ["accepted", "in-progress"], "CA-IT-2": ["rejected"]}
    assert stats.kinds == {"referral": 2} and stats.answers_refused == 0
    assert answers_on(bus, "police_referrals") == []
