"""The fleet answering referrals by a policy, and police's report desk, over
fake kafka-python clients: what is sent where, what is refused before sending,
what is counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeward import kafka
from homeward.codec import Codec, Record
from homeward.events import MandatoryReportFiled, ReferralAnswered, ReportAcknowledged
from homeward.settings import KafkaSettings
from homeward_agency import Fleet, PlannedAnswer, ReportDesk
from homeward_agency.delivery import Delivery
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import FakeConsumer, FakeProducer

codec = Codec()
SETTINGS = KafkaSettings(bootstrap_servers="fake:9092", topic_prefix="")


class GroupConsumer(FakeConsumer):
    """A consumer group's fake: commit() without offsets commits what was polled."""

    def commit(self, offsets: dict[Any, Any] | None = None) -> None:
        self.commits.append(self.position)


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"producer": FakeProducer()}
    monkeypatch.setattr(kafka, "consumer", lambda *_a, **_kw: made["consumer"])
    monkeypatch.setattr(kafka, "producer", lambda *_a, **_kw: made["producer"])
    yield made


def feed(clients: dict[str, Any], *records: tuple[Any, str]) -> None:
    clients["consumer"] = GroupConsumer(
        [s.raw(s.encode(codec, event, key), offset=i) for i, (event, key) in enumerate(records)]
    )


def sent(clients: dict[str, Any], kind: type) -> list[tuple[str, Any]]:
    out = []
    for topic, record in clients["producer"].sent:
        try:
            event = codec.decode(record.value, record.headers).event
        except Exception:
            continue
        if isinstance(event, kind):
            out.append((topic, event))
    return out


def policy(delivery: Delivery) -> list[PlannedAnswer]:
    if delivery.key == "HL-SILENT":
        return []  # never answers: the router's deadline will see to it
    if delivery.key == "CA-FULL":
        return [PlannedAnswer("rejected", reason="no_capacity")]
    if delivery.key == "HL-WRONG":
        return [PlannedAnswer("completed", outcome="service_provided")]  # skips steps
    return [
        PlannedAnswer("accepted"),
        PlannedAnswer("in-progress"),
        PlannedAnswer("completed", outcome="service_provided"),
    ]


def test_the_fleet_answers_referrals_as_its_policy_says(clients: dict[str, Any]) -> None:
    feed(
        clients,
        (s.referral("HL-1"), "HL-1"),
        (s.referral("PS-1", referral_id="REF-DNA", agency_type="police"), "PS-1"),
        (s.referral("CA-FULL", referral_id="REF-CA", agency_type="civil_affairs"), "CA-FULL"),
        (s.referral("HL-SILENT", referral_id="REF-S"), "HL-SILENT"),
        (s.referral("HL-WRONG", referral_id="REF-W"), "HL-WRONG"),
        (s.referral("HL-1"), "HL-1"),  # a new copy of the first: answered once
        (s.delivery("HL-1", "D-1", agency_type="health"), "HL-1"),
        (s.referral_overdue("HL-SILENT"), "CO-1"),
    )
    fleet = Fleet(SETTINGS, agency_types=["health"], answer_policy=policy)
    fleet.step(0)
    answers = sent(clients, ReferralAnswered)
    by_agency: dict[str, list[str]] = {}
    for topic, event in answers:
        by_agency.setdefault(event.agency_id, []).append(f"{topic}:{event.status.value}")
    assert by_agency == {
        "HL-1": [
            "referrals.answers.v1:accepted",
            "referrals.answers.v1:in-progress",
            "referrals.answers.v1:completed",
        ],
        "PS-1": [
            "police.referrals.v1:accepted",
            "police.referrals.v1:in-progress",
            "police.referrals.v1:completed",
        ],
        "CA-FULL": ["referrals.answers.v1:rejected"],
    }
    stats = fleet.stats()
    assert stats.answers == {"accepted": 2, "in-progress": 2, "completed": 2, "rejected": 1}
    assert stats.answers_refused == 1  # HL-WRONG's plan skipped steps
    assert stats.kinds["referral"] == 6 and stats.kinds["referral_overdue"] == 1
    assert stats.duplicates_dropped == 0  # a new event id is a new record, not a copy
    assert stats.escalations == 0 and stats.deliveries == {"HL-1": 1}
    assert stats.summary()["referrals"] == 6 and stats.summary()["answers_sent"] == 7
    assert fleet.pending_answers() == 0
    fleet.close()


def test_answers_wait_their_time(clients: dict[str, Any]) -> None:
    feed(clients, (s.referral("HL-1"), "HL-1"))
    fleet = Fleet(
        SETTINGS,
        agency_types=["health"],
        answer_policy=lambda d: [PlannedAnswer("accepted"), PlannedAnswer("in-progress", after=60)],
    )
    fleet.step(0)
    assert [e.status.value for _t, e in sent(clients, ReferralAnswered)] == ["accepted"]
    assert fleet.pending_answers() == 1
    fleet.close()


def test_without_a_policy_referrals_go_unanswered(clients: dict[str, Any]) -> None:
    feed(clients, (s.referral("HL-1"), "HL-1"))
    fleet = Fleet(SETTINGS, agency_types=["health"])
    fleet.step(0)
    assert sent(clients, ReferralAnswered) == []
    assert fleet.stats().kinds == {"referral": 1}
    fleet.close()


# -- the report desk ------------------------------------------------------------------------


def test_the_desk_hands_out_each_filed_report_once_and_acknowledges_it(
    clients: dict[str, Any],
) -> None:
    filed = s.report("RPT-1")
    record = s.encode(codec, filed, "RPT-1")
    ack, _ = codec.encode(
        ReportAcknowledged(case_id="RPT-0", police_unit="U", agency_id="PS-1"),
        key="RPT-0",
        source="/t",
    )
    clients["consumer"] = GroupConsumer(
        [
            s.raw(record, offset=0, topic="police.reports.v1"),
            s.raw(ack, offset=1, topic="police.reports.v1"),
            s.raw(Record(b"RPT-2", b"\x00junk", []), offset=2, topic="police.reports.v1"),
            s.raw(record, offset=3, topic="police.reports.v1"),  # a redelivered copy
        ]
    )
    with ReportDesk(SETTINGS) as desk:
        assert desk.topic == "police.reports.v1"
        [got] = desk.poll()
        assert got.report == filed and got.report_id == "RPT-1"
        assert isinstance(got.report, MandatoryReportFiled)
        result = desk.acknowledge(got, police_unit="Fakeville Test Unit", agency_id="PS-1")
        desk.commit()
        assert desk.counts == {"reports": 1, "acknowledgements": 1, "skipped": 2, "dead_letters": 1}
    producer: FakeProducer = clients["producer"]
    assert producer.topics() == ["police.deadletter.v1", "police.reports.v1"]
    _topic, out = producer.sent[1]
    back = codec.decode(out.value, out.headers)
    assert out.key == b"RPT-1" and back.event == result
    assert back.meta.causation_id == got.meta.id
    assert back.meta.classification.value == "police-only"
    assert clients["consumer"].commits == [4]


def test_the_desk_generator_commits_after_each_batch(clients: dict[str, Any]) -> None:
    import threading

    clients["consumer"] = GroupConsumer(
        [s.raw(s.encode(codec, s.report(f"RPT-{i}"), f"RPT-{i}"), offset=i) for i in range(3)],
        max_records=2,
    )
    stop = threading.Event()
    clients["consumer"].on_idle = stop.set
    with ReportDesk(SETTINGS) as desk:
        ids = [f.report_id for f in desk.reports(stop, poll_timeout=0)]
    assert ids == ["RPT-0", "RPT-1", "RPT-2"]
    assert clients["consumer"].commits[:2] == [2, 3]
