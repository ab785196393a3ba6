"""The HTTP layer over in-memory adapters: answers, error shapes, nothing published on error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.codec import Codec
from homeward.events import AlertCancelled, AlertIssued, AlertUpdated, SightingReported
from homeward_intake.alert_view import MemoryAlertView
from homeward_intake.publisher import MemoryPublisher
from tests.unit.intake import samples

JSON = {"content-type": "application/json"}


def fields_of(resp: Any) -> list[str]:
    return [e["field"] for e in resp.json()["errors"]]


def assert_error_shape(resp: Any, status: int, error: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"], body
    for item in body["errors"]:
        assert set(item) == {"field", "reason"}
        assert isinstance(item["reason"], str) and item["reason"]


# -- accepted -------------------------------------------------------------------


def test_issue_alert_publishes_one_event_and_answers_202(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    body = samples.alert()
    resp = http.post("/v1/alerts", json=body)
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert set(answer) == {"event_id", "case_id", "type", "accepted_at", "topic"}
    assert answer["case_id"] == samples.CASE_ID
    assert answer["type"] == "homeward.alerts.AlertIssued"
    assert answer["topic"] == "test.alerts.events.v1"

    [record] = publisher.events()
    decoded = Codec().decode(record.value, record.headers)
    assert samples.bare(decoded.event) == AlertIssued.model_validate(body)
    assert decoded.event.actor is not None
    assert decoded.event.actor.agency_id == "PS-TEST-1"
    assert decoded.event.actor.principal == "police-case-system"
    assert record.key == samples.CASE_ID.encode()
    assert decoded.meta.id == answer["event_id"]
    # The system that sent it, through this intake instance.
    assert decoded.meta.source == "/homeward/intake/unit-test/police-case-system"
    assert decoded.meta.subject == decoded.meta.correlation_id == samples.CASE_ID
    assert decoded.meta.time == datetime.fromisoformat(answer["accepted_at"])


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        ("updates", samples.update(), AlertUpdated),
        ("sightings", samples.sighting(), SightingReported),
        ("cancellation", samples.cancellation("FALSE_REPORT", "test"), AlertCancelled),
    ],
)
def test_case_routes_take_the_case_from_the_path(
    http: TestClient,
    publisher: MemoryPublisher,
    alerts: MemoryAlertView,
    path: str,
    body: dict[str, Any],
    model: Any,
) -> None:
    samples.seed_alert(alerts, "PS-TEST-1-CASE-9")
    resp = http.post(f"/v1/alerts/PS-TEST-1-CASE-9/{path}", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["case_id"] == "PS-TEST-1-CASE-9"
    assert resp.json()["type"] == model.avro_name
    [record] = publisher.events()
    event = Codec().decode(record.value, record.headers).event
    assert samples.bare(event) == model.model_validate({**body, "case_id": "PS-TEST-1-CASE-9"})
    assert event.actor.agency_id == "PS-TEST-1"


@pytest.mark.parametrize("reason", ["FOUND", "FALSE_REPORT", "WITHDRAWN"])
def test_every_cancel_reason_is_accepted(
    http: TestClient, alerts: MemoryAlertView, reason: str
) -> None:
    samples.seed_alert(alerts, "PS-TEST-1-C1")
    resp = http.post("/v1/alerts/PS-TEST-1-C1/cancellation", json=samples.cancellation(reason))
    assert resp.status_code == 202, resp.text


# -- refused: 422 naming every field ---------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            body = body[p]
        body[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            body = body[p]
        del body[last]

    return mutate


INVALID_ALERTS = [
    ("missing child", _drop("child"), "child", "Field required"),
    ("missing nested", _drop("chief_officer.officer_id"), "chief_officer.officer_id", "required"),
    ("wrong type", _set("child.age_years", "nine"), "child.age_years", "integer"),
    ("age 40", _set("child.age_years", 40), "child.age_years", "less than or equal to 17"),
    ("negative age", _set("child.age_years", -1), "child.age_years", "greater than or equal"),
    ("naive datetime", _set("last_seen_at", "2026-01-01T08:00:00"), "last_seen_at", "time zone"),
    ("not a datetime", _set("last_seen_at", "yesterday"), "last_seen_at", "datetime"),
    ("extra field", _set("nickname", "x"), "nickname", "Extra inputs are not permitted"),
    ("nested extra", _set("child.nickname", "x"), "child.nickname", "Extra inputs"),
    ("bad literal", _set("child.sex", "other"), "child.sex", "'female'"),
    ("latitude", _set("last_seen.latitude", 91), "last_seen.latitude", "less than or equal"),
    ("case id", _set("case_id", "bad id!"), "case_id", "pattern"),
    ("empty name", _set("child.name", "   "), "child.name", "at least 1"),
    ("list item", _set("target_types", ["police", 5]), "target_types.1", "Input should be"),
    ("unknown type", _set("target_types", ["Police"]), "target_types.0", "'police'"),
    ("null", _set("issuing_unit", None), "issuing_unit", "string"),
]


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [case[1:] for case in INVALID_ALERTS],
    ids=[case[0] for case in INVALID_ALERTS],
)
def test_invalid_alert_is_422_naming_the_field_and_nothing_is_published(
    http: TestClient,
    publisher: MemoryPublisher,
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    reason: str,
) -> None:
    body = samples.alert()
    mutate(body)
    resp = http.post("/v1/alerts", json=body, headers={"Idempotency-Key": "k-invalid"})
    assert_error_shape(resp, 422, "invalid_request")
    by_field = {e["field"]: e["reason"] for e in resp.json()["errors"]}
    assert field in by_field, resp.json()
    assert reason in by_field[field]
    assert field in resp.json()["message"]
    assert publisher.sent == []


def test_every_bad_field_is_named_at_once(http: TestClient, publisher: MemoryPublisher) -> None:
    body = samples.alert()
    body["child"]["age_years"] = 40
    body["last_seen_at"] = "2026-01-01T08:00:00"
    del body["public_summary"]
    body["extra"] = True
    resp = http.post("/v1/alerts", json=body)
    assert_error_shape(resp, 422, "invalid_request")
    assert set(fields_of(resp)) == {"child.age_years", "last_seen_at", "public_summary", "extra"}
    assert publisher.sent == []


def test_errors_never_echo_the_input(http: TestClient) -> None:
    body = samples.alert()
    body["child"]["name"] = "Test Child Secretname"
    body["child"]["age_years"] = "Test Child Secretname"
    resp = http.post("/v1/alerts", json=body)
    assert resp.status_code == 422
    assert "Secretname" not in resp.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("updates", {}, "new_information"),
        ("updates", {"new_information": "x", "case_id": "C2"}, "case_id"),
        ("sightings", samples.sighting(reporter_kind="psychic"), "reporter_kind"),
        ("sightings", samples.sighting(seen_at="2026-01-01T10:30:00"), "seen_at"),
        ("cancellation", {"reason": "BORED"}, "reason"),
        ("cancellation", {"reason": "FOUND", "note": 5}, "note"),
    ],
)
def test_invalid_case_requests_name_the_field(
    http: TestClient, publisher: MemoryPublisher, path: str, body: dict[str, Any], field: str
) -> None:
    resp = http.post(f"/v1/alerts/C1/{path}", json=body)
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert publisher.sent == []


@pytest.mark.parametrize("case_id", ["bad id", "-leading", "x" * 65])
def test_invalid_case_id_in_the_path_is_named(
    http: TestClient, publisher: MemoryPublisher, case_id: str
) -> None:
    resp = http.post(f"/v1/alerts/{case_id}/updates", json=samples.update())
    assert_error_shape(resp, 422, "invalid_request")
    assert fields_of(resp) == ["case_id"]
    assert publisher.sent == []


@pytest.mark.parametrize("key", ["", "k" * 129])
def test_idempotency_key_length_is_checked(
    http: TestClient, publisher: MemoryPublisher, key: str
) -> None:
    resp = http.post("/v1/alerts", json=samples.alert(), headers={"Idempotency-Key": key})
    assert_error_shape(resp, 422, "invalid_request")
    assert fields_of(resp) == ["Idempotency-Key"]
    assert publisher.sent == []


# -- refused before validation: 400, 413, 415 -------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b'{"case_id": "C1",}', b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b"NaN"],
    ids=["truncated", "trailing comma", "not utf-8", "deep nesting", "bare NaN"],
)
def test_bad_json_is_4xx_naming_the_body(
    http: TestClient, publisher: MemoryPublisher, raw: bytes
) -> None:
    resp = http.post("/v1/alerts", content=raw, headers=JSON)
    assert resp.status_code in (400, 422), resp.text
    assert "body" in fields_of(resp)
    assert publisher.sent == []


def test_truncated_json_is_400_invalid_json(http: TestClient) -> None:
    resp = http.post("/v1/alerts", content=b'{"case_id": ', headers=JSON)
    assert_error_shape(resp, 400, "invalid_json")
    assert fields_of(resp) == ["body"]


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_422(http: TestClient, raw: bytes) -> None:
    resp = http.post("/v1/alerts", content=raw, headers=JSON)
    assert_error_shape(resp, 422, "invalid_request")
    assert fields_of(resp) == ["body"]


def test_body_over_the_cap_is_413(http: TestClient, publisher: MemoryPublisher) -> None:
    body = samples.alert(details="x" * 70_000)
    resp = http.post("/v1/alerts", json=body)
    assert_error_shape(resp, 413, "body_too_large")
    assert fields_of(resp) == ["body"]
    assert publisher.sent == []


def test_chunked_body_over_the_cap_is_413(http: TestClient, publisher: MemoryPublisher) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024  # JSON whitespace: only the size can refuse it

    resp = http.post("/v1/alerts", content=chunks(), headers=JSON)
    assert_error_shape(resp, 413, "body_too_large")
    assert publisher.sent == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_non_json_content_type_is_415(
    http: TestClient, publisher: MemoryPublisher, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    resp = http.post("/v1/alerts", content=b'{"a": 1}', headers=headers)
    assert_error_shape(resp, 415, "unsupported_media_type")
    assert fields_of(resp) == ["content-type"]
    assert publisher.sent == []


def test_json_with_charset_and_vendor_suffix_is_accepted(http: TestClient) -> None:
    import json

    for i, ct in enumerate(("application/json; charset=utf-8", "application/vnd.homeward+json")):
        raw = json.dumps(samples.alert(f"PS-TEST-1-CT-{i}")).encode()
        resp = http.post("/v1/alerts", content=raw, headers={"content-type": ct})
        assert resp.status_code == 202, (ct, resp.text)


# -- Kafka down, unknown routes, probes, docs ---------------------------------------------


def test_kafka_down_is_503_with_a_clear_message(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    publisher.fail = True
    resp = http.post("/v1/alerts", json=samples.alert(), headers={"Idempotency-Key": "k503"})
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"] == "unavailable"
    assert "unavailable" in resp.json()["message"]
    assert "Idempotency-Key" in resp.json()["message"]
    assert resp.headers["Retry-After"] == "1"
    assert publisher.sent == []


def test_unknown_route_and_method_use_the_error_shape(http: TestClient) -> None:
    assert http.get("/v2/nothing").json()["error"] == "not_found"
    resp = http.get("/v1/alerts")
    assert resp.status_code == 405
    assert resp.json()["error"] == "method_not_allowed"


def test_health_and_readiness(http: TestClient, publisher: MemoryPublisher) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").status_code == 200
    publisher.fail = True
    resp = http.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["producer"] is False
    assert resp.json()["reasons"] == {"producer": "Kafka is unavailable (simulated)"}
    assert http.get("/healthz").status_code == 200  # liveness does not depend on Kafka


def test_openapi_documents_the_versioned_routes(http: TestClient) -> None:
    doc = http.get("/openapi.json").json()
    assert set(doc["paths"]) >= {
        "/v1/alerts",
        "/v1/alerts/{case_id}/updates",
        "/v1/alerts/{case_id}/sightings",
        "/v1/alerts/{case_id}/cancellation",
        "/healthz",
        "/readyz",
    }
    schemas = doc["components"]["schemas"]
    assert "case_id" not in schemas["AlertUpdateRequest"]["properties"]
    assert {"reason", "note"} == set(schemas["CancellationRequest"]["properties"])
    post = doc["paths"]["/v1/alerts"]["post"]
    assert "202" in post["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    assert http.get("/docs").status_code == 200
