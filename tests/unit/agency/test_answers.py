"""Answering referrals with the SDK (fake kafka-python clients): the lifecycle
is checked against what the SDK last saw or sent, a refused answer names its
field and publishes nothing, and an accepted one goes to the police topic for
police and to referrals.answers.v1 for everyone else, keyed by case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeward import kafka
from homeward.codec import Codec
from homeward.events import ReferralAnswered, TaskStatus
from homeward.lifecycle import TransitionError
from homeward.settings import KafkaSettings
from homeward_agency.answers import ReferralMemory, coded, prepare
from homeward_agency.subscriber import Subscriber
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import FakeConsumer, FakeProducer, Stop

codec = Codec()
HEALTH = "HL-TEST-1"
POLICE = "PS-TEST-1"


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {"producer": FakeProducer(), "consumer": FakeConsumer([])}
    monkeypatch.setattr(kafka, "consumer", lambda *_a, **_kw: made["consumer"])
    monkeypatch.setattr(kafka, "producer", lambda *_a, **_kw: made["producer"])
    yield made


def subscriber(clients: dict[str, Any], agency: str, agency_type: str, *events: Any) -> Subscriber:
    clients["consumer"] = FakeConsumer(
        [s.raw(s.encode(codec, e, agency), offset=i) for i, e in enumerate(events)]
    )
    settings = KafkaSettings(bootstrap_servers="fake:9092", topic_prefix="")
    return Subscriber(agency, agency_type, settings)


def answers(clients: dict[str, Any]) -> list[tuple[str, bytes, ReferralAnswered]]:
    out = []
    for topic, record in clients["producer"].sent:
        event = codec.decode(record.value, record.headers).event
        if isinstance(event, ReferralAnswered):
            out.append((topic, record.key, event))
    return out


def test_a_health_agency_answers_on_referrals_answers(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, HEALTH, "health", s.referral(HEALTH))
    [referral] = sub.poll()
    assert referral.kind == "referral"
    sent = sub.answer(referral, "accepted", note="Clinic slot booked (test).")
    assert sent.topic == "referrals.answers.v1"
    [(topic, key, event)] = answers(clients)
    assert (topic, key) == ("referrals.answers.v1", b"CASE-TEST-1")
    assert event == sent.event
    assert (event.agency_id, event.referral_id, event.status) == (
        HEALTH,
        "REF-TEST-1",
        TaskStatus.ACCEPTED,
    )
    back = codec.decode(
        clients["producer"].sent[0][1].value, clients["producer"].sent[0][1].headers
    )
    assert back.meta.id == sent.event_id and back.meta.causation_id == referral.meta.id
    assert back.meta.source == f"urn:homeward:agency:{HEALTH}"
    assert sub.stats().answers_sent == 1 and sub.stats().acks_sent == 0


def test_police_answer_on_the_police_topic(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, POLICE, "police", s.referral(POLICE, agency_type="police"))
    [referral] = sub.poll()
    sub.answer(referral, "received")
    sub.answer(referral, "accepted")
    assert [t for t, _k, _e in answers(clients)] == ["police.referrals.v1"] * 2


def test_the_lifecycle_is_followed_through_to_completion(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, HEALTH, "health", s.referral(HEALTH))
    [referral] = sub.poll()
    for status, extra in [
        ("accepted", {}),
        ("in-progress", {}),
        ("on-hold", {"reason": "person_declined"}),
        ("in-progress", {}),
        ("completed", {"outcome": "service_provided"}),
    ]:
        sub.answer(referral, status, **extra)
    assert [e.status.value for _t, _k, e in answers(clients)] == [
        "accepted",
        "in-progress",
        "on-hold",
        "in-progress",
        "completed",
    ]
    with pytest.raises(TransitionError) as err:
        sub.answer(referral, "in-progress")
    assert err.value.field == "status" and "completed is final" in err.value.reason
    assert len(answers(clients)) == 5


@pytest.mark.parametrize(
    ("status", "extra", "field"),
    [
        ("completed", {"outcome": "service_provided"}, "status"),  # from requested
        ("in-progress", {}, "status"),
        ("rejected", {}, "reason"),
        ("accepted", {"reason": "no_capacity"}, "reason"),
        ("completed", {}, "outcome"),
        ("cancelled", {}, "status"),
        ("done", {}, "status"),
        ("rejected", {"reason": "bored"}, "reason"),
        ("completed", {"outcome": "great"}, "outcome"),
    ],
)
def test_a_refused_answer_names_its_field_and_publishes_nothing(
    clients: dict[str, Any], status: str, extra: dict[str, str], field: str
) -> None:
    sub = subscriber(clients, HEALTH, "health", s.referral(HEALTH))
    [referral] = sub.poll()
    with pytest.raises(TransitionError) as err:
        sub.answer(referral, status, **extra)
    assert err.value.field == field
    assert clients["producer"].sent == []
    assert sub.stats().answers_sent == 0


def test_the_routers_refusal_tells_the_sdk_where_the_referral_stands(
    clients: dict[str, Any],
) -> None:
    sub = subscriber(
        clients,
        HEALTH,
        "health",
        s.referral(HEALTH),
        s.answer_refused(HEALTH, current=TaskStatus.ACCEPTED),
    )
    _referral, refused = sub.poll()
    assert refused.kind == "answer_refused"
    # The router holds accepted: in-progress is legal from there (not from requested).
    sub.answer(refused, "in-progress")
    assert answers(clients)[0][2].status is TaskStatus.IN_PROGRESS


def test_a_referral_never_seen_has_only_its_codes_checked(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, HEALTH, "health")
    sub.answer_referral("CASE-9", "REF-9", "in-progress")
    with pytest.raises(TransitionError) as err:
        sub.answer_referral("CASE-9", "REF-8", "rejected")
    assert err.value.field == "reason"
    with pytest.raises(TransitionError):
        sub.answer_referral(
            "CASE-9", "REF-7", "completed", outcome="not_needed", current="requested"
        )
    assert [e.referral_id for _t, _k, e in answers(clients)] == ["REF-9"]


def test_only_referrals_and_notices_about_them_can_be_answered(clients: dict[str, Any]) -> None:
    sub = subscriber(clients, HEALTH, "health", s.delivery(HEALTH, "D-1", agency_type="health"))
    [alert] = sub.poll()
    with pytest.raises(ValueError, match="not about a referral"):
        sub.answer(alert, "accepted")


def test_run_acknowledges_alerts_and_leaves_referrals_to_be_answered(
    clients: dict[str, Any],
) -> None:
    sub = subscriber(
        clients,
        HEALTH,
        "health",
        s.delivery(HEALTH, "D-1", agency_type="health"),
        s.referral(HEALTH),
    )
    stop = Stop()
    clients["consumer"].on_idle = stop.set

    def handle(delivery: Any) -> None:
        if delivery.kind == "referral":
            sub.answer(delivery, "rejected", reason="out_of_area")

    sub.run(handle, stop)
    topics = clients["producer"].topics()
    assert topics == ["alerts.acks.v1", "referrals.answers.v1"]
    assert sub.stats().acks_sent == 1 and sub.stats().answers_sent == 1


def test_a_copy_of_an_offer_already_answered_does_not_reset_it() -> None:
    memory = ReferralMemory()
    memory.observe(HEALTH, s.referral(HEALTH))
    memory.set(HEALTH, "CASE-TEST-1", "REF-TEST-1", TaskStatus.ACCEPTED)
    memory.observe(HEALTH, s.referral(HEALTH))
    assert memory.get(HEALTH, "CASE-TEST-1", "REF-TEST-1") is TaskStatus.ACCEPTED
    memory.observe(HEALTH, s.referral(HEALTH, offer=2))
    assert memory.get(HEALTH, "CASE-TEST-1", "REF-TEST-1") is TaskStatus.REQUESTED
    memory.observe("HL-OTHER", s.referral(HEALTH, referral_id="REF-X"))
    assert memory.get("HL-OTHER", "CASE-TEST-1", "REF-X") is None


def _sent(memory: ReferralMemory, status: TaskStatus) -> str:
    _record, sent = prepare(
        Codec(),
        memory,
        agency_id=HEALTH,
        topic="referrals.answers.v1",
        case_id="CASE-TEST-1",
        referral_id="REF-TEST-1",
        status=status,
    )
    memory.sent(sent)
    return sent.event_id


def test_a_late_confirmation_of_an_earlier_answer_does_not_undo_a_later_one() -> None:
    # Answers sent back to back; the router's status changes read back afterwards.
    memory = ReferralMemory()
    memory.observe(HEALTH, s.referral(HEALTH))
    ids = ("CASE-TEST-1", "REF-TEST-1")
    received = _sent(memory, TaskStatus.RECEIVED)
    accepted = _sent(memory, TaskStatus.ACCEPTED)
    memory.confirm(HEALTH, *ids, TaskStatus.RECEIVED, 1, received)
    assert memory.get(HEALTH, *ids) is TaskStatus.ACCEPTED  # "in-progress" may follow
    in_progress = _sent(memory, TaskStatus.IN_PROGRESS)
    memory.confirm(HEALTH, *ids, TaskStatus.ACCEPTED, 1, accepted)
    assert memory.get(HEALTH, *ids) is TaskStatus.IN_PROGRESS
    memory.confirm(HEALTH, *ids, TaskStatus.IN_PROGRESS, 1, in_progress)
    assert memory.get(HEALTH, *ids) is TaskStatus.IN_PROGRESS
    # Nothing of ours pending: the router's word stands, whatever it is.
    memory.confirm(HEALTH, *ids, TaskStatus.CANCELLED, 1, None)
    assert memory.get(HEALTH, *ids) is TaskStatus.CANCELLED


def test_the_routers_own_step_or_anothers_answer_overrides_what_we_sent() -> None:
    memory = ReferralMemory()
    memory.observe(HEALTH, s.referral(HEALTH))
    ids = ("CASE-TEST-1", "REF-TEST-1")
    _sent(memory, TaskStatus.RECEIVED)
    _sent(memory, TaskStatus.ACCEPTED)
    memory.confirm(HEALTH, *ids, TaskStatus.CANCELLED, 1, None)  # the case closed
    assert memory.get(HEALTH, *ids) is TaskStatus.CANCELLED
    memory.observe(HEALTH, s.referral(HEALTH, offer=2))
    _sent(memory, TaskStatus.RECEIVED)
    memory.confirm(HEALTH, *ids, TaskStatus.REJECTED, 2, "evt-someone-else")
    assert memory.get(HEALTH, *ids) is TaskStatus.REJECTED


def test_memory_is_bounded() -> None:
    memory = ReferralMemory(capacity=2)
    for i in range(3):
        memory.set(HEALTH, "C", f"R{i}", TaskStatus.ACCEPTED)
    assert len(memory) == 2 and memory.get(HEALTH, "C", "R0") is None
    memory = ReferralMemory(capacity=1)
    memory.observe(HEALTH, s.referral(HEALTH))
    _sent(memory, TaskStatus.RECEIVED)
    memory.set(HEALTH, "C", "R-OTHER", TaskStatus.ACCEPTED)  # evicts REF-TEST-1
    assert memory._pending == {}


def test_codes_are_read_from_strings_or_enums() -> None:
    assert coded("rejected", "no_capacity", None)[1] is not None
    with pytest.raises(TransitionError) as err:
        coded("accepted", None, "meh")
    assert err.value.field == "outcome"
