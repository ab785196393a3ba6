"""Every event the agency SDK writes carries the actor of the agency it acts
for: the Subscriber's acks and answers, the Fleet's for each simulated agency,
the report desk's acknowledgements (police)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeward import kafka
from homeward.codec import Codec
from homeward.events import Actor, AgencyAcknowledgement, ReferralAnswered, ReportAcknowledged
from homeward.settings import KafkaSettings
from homeward_agency import Fleet, PlannedAnswer, ReportDesk, Subscriber
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import FakeProducer
from tests.unit.agency.test_fleet_answers import GroupConsumer

codec = Codec()
SETTINGS = KafkaSettings(bootstrap_servers="fake:9092", topic_prefix="")


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


def written(clients: dict[str, Any], kind: type) -> list[Any]:
    out = []
    for _topic, record in clients["producer"].sent:
        event = codec.decode(record.value, record.headers).event
        if isinstance(event, kind):
            out.append(event)
    return out


def actor(agency_id: str, agency_type: str, principal: str) -> Actor:
    return Actor(principal=principal, kind="system", agency_id=agency_id, agency_type=agency_type)


def test_the_subscribers_acks_and_answers_name_its_agency(clients: dict[str, Any]) -> None:
    me = "PS-TEST-1"
    feed(clients, (s.delivery(me, "D-1"), me), (s.referral(me, agency_type="police"), me))
    sub = Subscriber(me, "police", SETTINGS, principal="ps-test-1-system")
    got = sub.poll(0)
    sub.acknowledge(got[0])
    sub.answer(got[1], "accepted")
    sub.commit()
    (ack,) = written(clients, AgencyAcknowledgement)
    (answer,) = written(clients, ReferralAnswered)
    assert ack.actor == answer.actor == actor(me, "police", "ps-test-1-system")
    sub.close()


def test_without_a_principal_the_kafka_user_or_the_agency_is_named(
    clients: dict[str, Any],
) -> None:
    feed(clients)
    assert Subscriber("HL-1", "health", SETTINGS).actor.principal == "agency:HL-1"
    scram = SETTINGS.model_copy(update={"sasl_username": "health"})
    assert Subscriber("HL-1", "health", scram).actor.principal == "health"


def test_the_fleet_acts_as_each_agency(clients: dict[str, Any]) -> None:
    feed(
        clients,
        (s.delivery("HL-1", "D-1", agency_type="health"), "HL-1"),
        (s.delivery("HL-2", "D-2", agency_type="health"), "HL-2"),
        (s.referral("HL-2"), "HL-2"),
    )
    fleet = Fleet(
        SETTINGS,
        agency_types=["health"],
        answer_policy=lambda d: [PlannedAnswer("accepted")],
        principal="demo-fleet",
    )
    fleet.step(0)
    acks = {a.agency_id: a.actor for a in written(clients, AgencyAcknowledgement)}
    assert acks == {
        "HL-1": actor("HL-1", "health", "demo-fleet"),
        "HL-2": actor("HL-2", "health", "demo-fleet"),
    }
    (answer,) = written(clients, ReferralAnswered)
    assert answer.actor == actor("HL-2", "health", "demo-fleet")
    fleet.close()


def test_the_report_desk_acknowledges_as_police(clients: dict[str, Any]) -> None:
    feed(clients, (s.report("RPT-1"), "RPT-1"))
    with ReportDesk(SETTINGS, principal="desk-1") as desk:
        [filed] = desk.poll()
        ack = desk.acknowledge(filed, police_unit="Fakeville Test Unit", agency_id="PS-1")
    assert ack.actor == actor("PS-1", "police", "desk-1")
    assert written(clients, ReportAcknowledged) == [ack]
