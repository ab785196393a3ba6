"""What each service and SDK adds to the metrics, without a broker: the
fan-out's acknowledgement time, the router's open referrals and answer time,
intake's HTTP metrics by route template and events produced, the agency
outbox's and the hospital recorder's counters. Counters are process-wide, so
each test compares before and after."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from homeward import processing
from homeward.actors import agency_actor
from homeward.codec import Codec, Record
from homeward.errors import CodecError
from homeward.events import AgencyAcknowledgement, ReferralStatusChanged, TaskStatus
from homeward.topology import Topology
from homeward_agency.cli import serve_probes
from homeward_agency.outbox import Outbox, ce_type
from homeward_fanout.planner import CaseState as FanoutState
from homeward_fanout.planner import Policy, delivery_id, to_ms
from homeward_fanout.processor import Awaited, FanoutProcessor, awaited_ack
from homeward_fanout.store import CaseStore
from homeward_health import HealthRecorder, RecordRejected
from homeward_health.recorder import field_label
from homeward_health.synthetic import DEMO_HOSPITALS, birth
from homeward_intake.app import create_app
from homeward_intake.handlers import Intake
from homeward_intake.idempotency import MemoryIdempotencyStore
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.referral_view import MemoryReferralView
from homeward_intake.settings import IntakeSettings
from homeward_referrals.processor import ReferralProcessor, is_first_answer, open_referrals
from homeward_referrals.state import CaseState, Referral
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import FakeProducer
from tests.unit.fanout.test_planner import AGENCIES, T0, alert
from tests.unit.health.test_recorder import START, MemoryProducer
from tests.unit.intake import samples as intake_samples
from tests.unit.intake.idp import PersonaAuth, TestIdp
from tests.unit.referrals import world

TOPOLOGY = Topology.load(prefix="")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "RETRY_FIRST_SECONDS", 0.001)


async def sent_now(topic: str, key: bytes, value: bytes, headers: Any) -> Any:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


# -- fan-out: time to acknowledgement -------------------------------------------


def test_the_first_acknowledgement_of_a_delivery_is_timed_from_its_first_write() -> None:
    now = {"t": to_ms(T0) / 1000}
    table: dict[bytes, bytes] = {}
    p = FanoutProcessor(
        topology=TOPOLOGY,
        agencies=AGENCIES,
        policy=Policy(),
        table=table,
        send=sent_now,
        source="/test",
        clock=lambda: now["t"],
    )
    codec = Codec()

    def feed(topic: str, event: Any) -> None:
        rec, _ = codec.encode(event, key=event.case_id, source="/test/police", time=T0)
        asyncio.run(p.process(topic, 0, 1, rec.key, rec.value, rec.headers))

    feed(TOPOLOGY.get("alert_events").name, alert(0.5))
    state = CaseStore(table).load(b"CASE-T-1")
    assert state is not None
    agency_id = sorted(state.pending)[0]
    labels = {"agency_type": next(a.type.value for a in AGENCIES if a.id == agency_id)}
    count, total = (
        value("homeward_ack_seconds_count", **labels),
        value("homeward_ack_seconds_sum", **labels),
    )
    now["t"] += 42.0
    ack = AgencyAcknowledgement(
        case_id="CASE-T-1",
        delivery_id=delivery_id(state.alert_event_id, agency_id),
        agency_id=agency_id,
        actor=agency_actor(agency_id, ""),
    )
    feed(TOPOLOGY.get("alert_acks").name, ack)
    feed(TOPOLOGY.get("alert_acks").name, ack)  # a copy: the clock has stopped already
    assert value("homeward_ack_seconds_count", **labels) == count + 1
    assert value("homeward_ack_seconds_sum", **labels) == pytest.approx(total + 42.0)


def test_only_an_ack_from_the_agency_awaited_stops_a_clock() -> None:
    state = FanoutState("C-1", "active", {}, "e", 0, 100, sent_ms={100: 5})
    agency = AGENCIES[0]
    state.recipients[agency.id] = 100
    state.pending[agency.id] = (1, 10)
    ack = AgencyAcknowledgement(
        case_id="C-1",
        delivery_id=delivery_id("e", agency.id),
        agency_id=agency.id,
        actor=agency_actor(agency.id, agency.type.value),
    )
    assert awaited_ack(state, ack, AGENCIES) == Awaited(agency.type.value, 5)
    # An ack whose actor is missing or of another agency stops nothing.
    assert awaited_ack(state, ack.model_copy(update={"actor": None}), AGENCIES) is None
    forged = ack.model_copy(update={"actor": agency_actor("A-2", "police")})
    assert awaited_ack(state, forged, AGENCIES) is None
    assert awaited_ack(state, ack.model_copy(update={"agency_id": "A-2"}), AGENCIES) is None
    assert awaited_ack(state, ack.model_copy(update={"delivery_id": "D-2"}), AGENCIES) is None
    assert awaited_ack(None, ack, AGENCIES) is None


# -- referral router: answer time and open referrals ------------------------------


def test_the_first_answer_to_an_offer_is_timed_and_open_referrals_counted() -> None:
    cases: dict[bytes, bytes] = {}
    p = ReferralProcessor(
        topology=TOPOLOGY,
        router=world.router(),
        cases=cases,
        reports={},
        send=sent_now,
        source="/test/referrals",
    )
    codec = Codec()

    def feed(topic_id: str, event: Any, at: Any) -> None:
        rec, _ = codec.encode(event, key=event.case_id, source="/test", time=at)
        asyncio.run(p.process(TOPOLOGY.get(topic_id).name, 0, 1, rec.key, rec.value, rec.headers))

    feed("rescues", world.rescue(), world.T0)
    p.report_open()
    state = CaseState.from_json(json.loads(cases[b"CASE-R-1"]))
    opened = open_referrals(state)
    assert sum(opened.values()) == 8 and {st for _, st in opened} == {"requested"}
    for (agency_type, status), n in opened.items():
        assert value("homeward_referrals_open", agency_type=agency_type, status=status) == n
    ref = next(r for r in state.referrals.values() if r.rule_id == "legal_aid")
    labels = {"agency_type": ref.agency_type}
    count = value("homeward_referral_answer_seconds_count", **labels)
    total = value("homeward_referral_answer_seconds_sum", **labels)
    assert ref.agency_id is not None
    first = world.answer(ref.referral_id, ref.agency_id, "received")
    feed("referral_answers", first, world.T0 + timedelta(seconds=90))
    later = world.answer(ref.referral_id, ref.agency_id, "accepted")
    feed("referral_answers", later, world.T0 + timedelta(seconds=400))  # not a first answer
    assert value("homeward_referral_answer_seconds_count", **labels) == count + 1
    assert value("homeward_referral_answer_seconds_sum", **labels) == pytest.approx(total + 90)
    p.report_open()
    accepted = value("homeward_referrals_open", agency_type=ref.agency_type, status="accepted")
    assert accepted >= 1
    # A status no longer held drops to 0 rather than keeping its last value.
    cases.clear()
    p.report_open()
    assert value("homeward_referrals_open", agency_type=ref.agency_type, status="accepted") == 0


def test_finished_and_escalated_referrals_are_not_open() -> None:
    state = CaseState("C-1")
    for i, (status, escalated) in enumerate(
        [("requested", False), ("completed", False), ("requested", True), ("in-progress", False)]
    ):
        ref = Referral(
            referral_id=f"R-{i}",
            rule_id="r",
            service="s",
            cites="c",
            agency_type="legal_aid",
            answer_ms=1,
            complete_ms=1,
            lat=0,
            lon=0,
            cause="e",
            agency_id=None if escalated else "A-1",
            status=status,
            escalated=escalated,
        )
        state.referrals[ref.referral_id] = ref
    assert open_referrals(state) == Counter(
        {("legal_aid", "requested"): 1, ("legal_aid", "in-progress"): 1}
    )


def test_only_an_agency_answer_to_a_requested_offer_is_a_first_answer() -> None:
    def changed(previous: TaskStatus | None, status: TaskStatus) -> ReferralStatusChanged:
        return ReferralStatusChanged(
            case_id="C",
            referral_id="R",
            rule_id="r",
            agency_id="A",
            agency_type="legal_aid",
            offer=1,
            previous_status=previous,
            status=status,
            changed_at=world.T0,
        )

    assert is_first_answer(changed(TaskStatus.REQUESTED, TaskStatus.RECEIVED))
    assert is_first_answer(changed(TaskStatus.REQUESTED, TaskStatus.REJECTED))
    assert not is_first_answer(changed(TaskStatus.REQUESTED, TaskStatus.CANCELLED))
    assert not is_first_answer(changed(TaskStatus.RECEIVED, TaskStatus.ACCEPTED))
    assert not is_first_answer(changed(None, TaskStatus.REQUESTED))


# -- intake ----------------------------------------------------------------------


def test_intake_counts_requests_by_route_template_and_events_it_produced() -> None:
    publisher = MemoryPublisher(prefix="unitm.")
    intake = Intake(
        publisher, MemoryIdempotencyStore(), source_name="unit", referrals=MemoryReferralView()
    )
    idp = TestIdp()
    app = create_app(intake, IntakeSettings(source_name="unit"), verifier=idp.verifier())
    route = "/v1/alerts/{case_id}/sightings"
    before = value("homeward_http_requests_total", route=route, method="POST", status="422")
    unmatched = value("homeward_http_requests_total", route="unmatched", method="GET", status="404")
    produced_topic = publisher.topology.get("alert_events").name
    produced = value(
        "homeward_events_produced_total",
        service="intake",
        topic=produced_topic,
        type="homeward.alerts.AlertIssued",
    )
    with TestClient(app, raise_server_exceptions=False) as http:
        http.auth = PersonaAuth(idp)
        assert http.post("/v1/alerts/PS-TEST-1-M-1/sightings", json={}).status_code == 422
        assert http.get("/no/such/path/PS-TEST-1-M-1").status_code == 404
        assert http.put("/v1/alerts/PS-TEST-1-M-1/sightings", json={}).status_code == 405
        refused = http.post("/v1/alerts", content=b"x", headers={"content-type": "text/plain"})
        assert refused.status_code == 415  # by the guard, before any route
        issued = http.post("/v1/alerts", json=intake_samples.alert(case_id="PS-TEST-1-M-2"))
        assert issued.status_code == 202, issued.text
        scrape = http.get("/metrics")
    assert scrape.status_code == 200
    text = scrape.text
    assert f'homeward_http_requests_total{{method="POST",route="{route}",status="422"}}' in text
    assert (
        "PS-TEST-1-M-1" not in text and "PS-TEST-1-M-2" not in text
    )  # never a raw path or case id
    assert 'homeward_ready{service="intake"} 1.0' in text
    assert 'homeward_up{service="intake"} 1.0' in text
    assert "homeward_build_info{" in text
    assert (
        value("homeward_http_requests_total", route=route, method="POST", status="422")
        == before + 1
    )
    assert (
        value("homeward_http_requests_total", route="unmatched", method="GET", status="404")
        == unmatched + 1
    )
    assert f'route="{route}",status="405"' in text
    assert 'method="POST",route="unmatched",status="415"' in text
    assert value("homeward_http_request_seconds_count", route="/v1/alerts", method="POST") >= 1
    assert (
        value(
            "homeward_events_produced_total",
            service="intake",
            topic=produced_topic,
            type="homeward.alerts.AlertIssued",
        )
        == produced + 1
    )


# -- SDKs --------------------------------------------------------------------------


def test_the_agency_outbox_counts_what_it_sends_and_dead_letters() -> None:
    record = Record(b"k", b"v", [("ce_type", b"homeward.alerts.AgencyAcknowledgement")])
    assert ce_type(record.headers) == "homeward.alerts.AgencyAcknowledgement"
    assert ce_type([("ce_id", b"x")]) == "unknown"
    labels = {"sdk": "agency", "topic": "unit.acks", "type": ce_type(record.headers)}
    sent = value("homeward_sdk_sent_total", **labels)
    dead = value("homeward_dead_letters_total", service="agency", reason="value")
    outbox = Outbox(FakeProducer(), "unit.dlq")
    outbox.send("unit.acks", record)
    outbox.dead_letter(s.raw(record, offset=3), CodecError("not Avro", field="value"), "svc")
    assert value("homeward_sdk_sent_total", **labels) == sent + 1
    assert value("homeward_dead_letters_total", service="agency", reason="value") == dead + 1


def test_the_hospital_recorder_counts_sent_and_refused_records() -> None:
    recorder = HealthRecorder(topology=Topology.load(prefix="unitm."), producer=MemoryProducer())
    records = birth("M1", DEMO_HOSPITALS[0], START)
    labels = {"sdk": "health", "topic": "unitm.health.records.v1", "type": records[0].ce_type()}
    sent = value("homeward_sdk_sent_total", **labels)
    recorder.record(records[0])
    assert value("homeward_sdk_sent_total", **labels) == sent + 1
    refused = value("homeward_sdk_refused_total", sdk="health", field="other")
    bad = {"type": "AdmissionRegistered", **records[0].model_dump(), "Made Up Name": 1}
    with pytest.raises(RecordRejected):
        recorder.record(bad)
    assert value("homeward_sdk_refused_total", sdk="health", field="other") == refused + 1


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("patient.id_number", "patient.id_number"),
        ("evidence.3", "other"),  # not a health record's field
        ("type", "type"),
        (None, "record"),
        ("Made Up Name", "other"),
        ("patient.9.id_number", "patient.*.id_number"),
    ],
)
def test_a_refused_field_label_is_a_declared_field_or_other(field: str | None, label: str) -> None:
    assert field_label(field) == label


def test_the_agency_cli_serves_probes_only_when_given_a_port() -> None:
    stop = threading.Event()
    assert serve_probes(0, stop) is None
    server = serve_probes(free_port(), stop)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
            assert r.status == 200
        stop.set()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/readyz", timeout=5)
        assert err.value.code == 503
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
            assert b'homeward_build_info{service="agency"' in r.read()
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
