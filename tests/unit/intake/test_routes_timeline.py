"""The timeline route over the in-memory publisher, the event-type -> topic
table, and the OpenAPI document of the new routes."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.events import EVENT_TYPES, Classification
from homeward.topology import Topology, answer_topic_id
from homeward_intake.app import create_app
from homeward_intake.handlers import Intake
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.routing import EVENT_TOPICS, topic_id_for
from tests.unit.intake import samples
from tests.unit.intake.conftest import MemoryTimeline
from tests.unit.intake.idp import PersonaAuth, TestIdp, bearer
from tests.unit.intake.test_routes import assert_error_shape, fields_of

CASE = samples.CASE_ID


def test_the_timeline_lists_the_cases_events_in_order_and_hides_police_only_summaries(
    http: TestClient, timeline: MemoryTimeline, idp: TestIdp
) -> None:
    assert http.post("/v1/alerts", json=samples.alert()).status_code == 202
    assert (
        http.post("/v1/alerts", json=samples.alert(case_id="PS-TEST-1-CASE-OTHER")).status_code
        == 202
    )
    rescue = samples.rescue(closes_alert=False)  # closed below, explicitly
    assert http.post("/v1/rescues", json=rescue).status_code == 202
    assert (
        http.post(f"/v1/alerts/{CASE}/cancellation", json=samples.cancellation()).status_code == 202
    )

    # The coordination office reads timelines, not police-only content.
    office = idp.mint(
        agency_id="CO-TEST-1", agency_type="coordination_office", roles=["coordination_officer"]
    )
    resp = http.get(f"/v1/cases/{CASE}/timeline", headers=bearer(office))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["case_id"] == CASE and body["clearance"] == "none"
    times = [e["time"] for e in body["entries"]]
    assert times == sorted(times)
    by_type = {e["type"].rsplit(".", 1)[1]: e for e in body["entries"]}
    assert set(by_type) == {"AlertIssued", "RescueNotified", "AlertCancelled"}
    if len(set(times)) == len(times):  # within one millisecond the topic decides
        assert list(by_type) == ["AlertIssued", "RescueNotified", "AlertCancelled"]
    alert, rescue, cancelled = (
        by_type[t] for t in ("AlertIssued", "RescueNotified", "AlertCancelled")
    )
    assert alert["summary"] == "alert issued by Sampleville Police Test Unit to police, education"
    assert alert["topic"] == "test.alerts.events.v1" and alert["event_id"]
    assert cancelled["summary"] == "alert closed: FOUND"
    # Police-only without clearance: type and time only.
    assert rescue["classification"] == "police-only"
    assert {k for k, v in rescue.items() if v is not None} == {"time", "type", "classification"}
    assert "Test Child" not in resp.text and samples.DNA_CANARY not in resp.text

    # Police's token (police_only.read) shows police-only summaries; no parameter asks.
    police = http.get(f"/v1/cases/{CASE}/timeline").json()
    assert police["clearance"] == "police"
    [rescue] = [e for e in police["entries"] if e["type"].endswith("RescueNotified")]
    assert rescue["summary"].startswith("rescue RESCUE-TEST-1 by Sampleville Police Test Unit")
    assert rescue["topic"] == "test.police.rescues.v1"
    text = str(police)
    assert "Test Child" not in text and samples.DNA_CANARY not in text and "Test notes" not in text
    assert timeline.calls == [(CASE, False), (CASE, True)]


def test_an_unknown_case_has_an_empty_timeline(http: TestClient) -> None:
    body = http.get("/v1/cases/PS-TEST-1-CASE-NOTHING/timeline").json()
    assert body["entries"] == [] and body["skipped"] == 0


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/cases/bad id/timeline", {}, "case_id"),
    ],
)
def test_a_bad_timeline_request_is_422_naming_the_field(
    http: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    resp = http.get(path, params=params)
    assert_error_shape(resp, 422, "invalid_request")
    assert fields_of(resp) == [field]


def test_without_a_timeline_source_the_route_is_503(intake: Intake, idp: TestIdp) -> None:
    app = create_app(intake, verifier=idp.verifier())
    with TestClient(app, raise_server_exceptions=False) as client:
        client.auth = PersonaAuth(idp)
        resp = client.get(f"/v1/cases/{CASE}/timeline")
    assert_error_shape(resp, 503, "unavailable")


# -- where each event type goes -----------------------------------------------------------


def test_every_routed_type_goes_to_a_declared_topic_that_lists_it() -> None:
    topology = Topology.load(prefix="")
    for avro_name, topic_id in EVENT_TOPICS.items():
        topic = topology.get(topic_id)
        short = avro_name.rsplit(".", 1)[1]
        assert short in topic.values, (avro_name, topic.name)
        event_cls = EVENT_TYPES[avro_name]
        if event_cls.classification is Classification.POLICE_ONLY:
            assert topic.name.startswith("police."), avro_name


def test_answers_go_to_the_police_topic_for_police_only() -> None:
    topology = Topology.load(prefix="")
    assert topology.get(answer_topic_id("police")).name == "police.referrals.v1"
    for agency_type in ("civil_affairs", "health", "justice", "education"):
        assert topology.get(answer_topic_id(agency_type)).name == "referrals.answers.v1"


def test_a_referral_answer_needs_the_answering_type_and_unknown_types_are_refused() -> None:
    from homeward.errors import ConfigError
    from homeward.events import ClockTick, ReferralAnswered, TaskStatus

    answer = ReferralAnswered(
        case_id="C1", referral_id="R1", agency_id="A1", status=TaskStatus.ACCEPTED
    )
    with pytest.raises(ConfigError):
        topic_id_for(answer)
    assert topic_id_for(answer, "police") == "police_referrals"
    with pytest.raises(ConfigError):
        topic_id_for(ClockTick.model_validate({"case_id": "C1", "now": "2026-01-01T00:00:00Z"}))


def test_a_police_only_event_is_never_published_to_a_restricted_topic() -> None:
    from homeward.errors import ConfigError
    from homeward.events import RescueNotified

    publisher = MemoryPublisher()
    rescue = RescueNotified.model_validate(samples.rescue())
    with pytest.raises(ConfigError) as err:
        publisher.publish(
            rescue, topic_id="alert_events", event_id="e1", source="/t", time=rescue.rescued_at
        )
    assert err.value.field == "topic"
    assert publisher.sent == []


# -- the contract as documented ------------------------------------------------------------


def test_openapi_documents_the_new_routes_with_tags(http: TestClient) -> None:
    doc: dict[str, Any] = http.get("/openapi.json").json()
    expected = {
        ("/v1/rescues", "post"): "rescues",
        ("/v1/cases/{case_id}/dna-comparisons", "post"): "rescues",
        ("/v1/referrals/{case_id}/{referral_id}/answers", "post"): "referrals",
        ("/v1/referrals/{case_id}/{referral_id}", "get"): "referrals",
        ("/v1/reports", "post"): "reports",
        ("/v1/reports/{report_id}/acknowledgement", "post"): "reports",
        ("/v1/cases/{case_id}/timeline", "get"): "timeline",
    }
    for (path, method), tag in expected.items():
        op = doc["paths"][path][method]
        assert op["tags"] == [tag], path
        if method == "post":
            assert "202" in op["responses"]
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), path
    answers = doc["paths"]["/v1/referrals/{case_id}/{referral_id}/answers"]["post"]
    assert {"404", "409", "422", "503"} <= set(answers["responses"])
    schemas = doc["components"]["schemas"]
    assert set(schemas["ReferralAnswerRequest"]["properties"]) == {
        "agency_id",
        "status",
        "reason",
        "outcome",
        "note",
    }
    assert "report_id" in schemas["ReportRequest"]["properties"]
    assert "case_id" not in schemas["ReportRequest"]["properties"]
    assert "report_id" in schemas["ReportAccepted"]["properties"]
