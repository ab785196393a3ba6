"""IntakeClient: typed answers, error mapping, retries that reuse the key."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from homeward.events import AlertIssued, CancelReason
from homeward_intake.client import Accepted, IntakeClient, IntakeError
from homeward_intake.publisher import MemoryPublisher
from tests.unit.intake import samples

ANSWER = {
    "event_id": "9a1e0c3e-0000-5000-8000-000000000001",
    "case_id": "C1",
    "type": "homeward.alerts.AlertCancelled",
    "accepted_at": "2026-01-01T08:00:00.123Z",
    "topic": "alerts.events.v1",
}


class Script:
    """A fake intake: answers from a list, and records every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kw: Any) -> IntakeClient:
        http = httpx.Client(transport=httpx.MockTransport(self.handler))
        return IntakeClient("http://intake.test", http=http, sleep=self.sleeps.append, **kw)

    def keys(self) -> list[str | None]:
        return [r.headers.get("Idempotency-Key") for r in self.requests]


def accepted(body: dict[str, Any] = ANSWER) -> httpx.Response:
    return httpx.Response(202, json=body)


def refused(status: int, errors: list[dict[str, Any]], error: str = "x") -> httpx.Response:
    return httpx.Response(status, json={"error": error, "message": "m", "errors": errors})


def test_202_becomes_a_typed_accepted() -> None:
    script = Script(accepted())
    result = script.client().cancel_alert("C1", CancelReason.FOUND, "safe")
    assert isinstance(result, Accepted)
    assert result.event_id == ANSWER["event_id"]
    assert result.accepted_at == datetime(2026, 1, 1, 8, 0, 0, 123000, tzinfo=UTC)
    [req] = script.requests
    assert req.url == "http://intake.test/v1/alerts/C1/cancellation"
    assert req.read() == b'{"reason":"FOUND","note":"safe"}'
    uuid.UUID(req.headers["Idempotency-Key"])  # one fresh key per logical call


def test_each_logical_call_gets_its_own_key() -> None:
    script = Script(accepted(), accepted())
    client = script.client()
    client.cancel_alert("C1", "FOUND")
    client.cancel_alert("C1", "FOUND")
    a, b = script.keys()
    assert a != b


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(503, json={"error": "unavailable", "message": "m", "errors": []}),
        httpx.Response(502, text="bad gateway"),
    ],
    ids=["connect", "read timeout", "503", "502"],
)
def test_transient_failures_are_retried_with_the_same_key(
    failure: httpx.Response | Exception,
) -> None:
    script = Script(failure, failure, accepted())
    result = script.client().cancel_alert("C1", "WITHDRAWN", "test")
    assert result.case_id == "C1"
    keys = script.keys()
    assert len(keys) == 3 and len(set(keys)) == 1
    assert script.sleeps == [0.2, 0.4]


def test_retries_are_bounded_and_end_in_an_intake_error() -> None:
    down = httpx.Response(
        503,
        headers={"Retry-After": "30"},
        json={
            "error": "unavailable",
            "message": "m",
            "errors": [{"field": None, "reason": "down"}],
        },
    )
    script = Script(*[down] * 5)
    with pytest.raises(IntakeError) as info:
        script.client(attempts=5, max_backoff_seconds=1.0).cancel_alert("C1", "FOUND")
    assert info.value.status == 503
    assert len(script.requests) == 5
    assert script.sleeps and max(script.sleeps) <= 1.0  # Retry-After is capped by our bound


def test_unreachable_after_all_attempts_has_no_status() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(IntakeError) as info:
        script.client().cancel_alert("C1", "FOUND")
    assert info.value.status is None
    assert "unreachable" in str(info.value)


@pytest.mark.parametrize("status", [400, 409, 413, 415, 422, 500])
def test_other_errors_are_raised_at_once_naming_the_fields(status: int) -> None:
    errors = [
        {"field": "child.age_years", "reason": "Input should be less than or equal to 17"},
        {"field": "last_seen_at", "reason": "must carry a time zone"},
    ]
    script = Script(refused(status, errors, "invalid_request"))
    with pytest.raises(IntakeError) as info:
        script.client().issue_alert(**samples.alert())
    err = info.value
    assert err.status == status
    assert err.errors == errors
    assert err.fields == ["child.age_years", "last_seen_at"]
    assert "child.age_years: Input should be less than or equal to 17" in str(err)
    assert "last_seen_at" in str(err)
    assert len(script.requests) == 1  # never retried


def test_an_error_without_json_still_says_what_happened() -> None:
    script = Script(httpx.Response(500, text="Internal Server Error"))
    with pytest.raises(IntakeError, match=r"500.*Internal Server Error"):
        script.client().cancel_alert("C1", "FOUND")


def test_an_explicit_key_is_sent_as_given() -> None:
    script = Script(accepted())
    script.client().cancel_alert("C1", "FOUND", idempotency_key="police-system-req-77")
    assert script.keys() == ["police-system-req-77"]


def test_case_ids_are_quoted_into_the_path() -> None:
    script = Script(accepted())
    script.client().update_alert("C1/../x", new_information="n")
    assert script.requests[0].url.raw_path == b"/v1/alerts/C1%2F..%2Fx/updates"


def test_case_routes_take_request_models_or_event_models() -> None:
    from homeward.events import AlertUpdated
    from homeward_intake.client import AlertUpdateRequest

    script = Script(accepted(), accepted())
    client = script.client()
    client.update_alert("C1", AlertUpdateRequest(new_information="n"))
    client.update_alert("C1", AlertUpdated(case_id="C1", new_information="n"))
    assert [r.read() for r in script.requests] == [b'{"new_information":"n"}'] * 2
    with pytest.raises(ValueError, match="case_id"):
        client.update_alert("C2", AlertUpdated(case_id="C1", new_information="n"))


def test_model_or_keywords_not_both() -> None:
    with pytest.raises(TypeError):
        Script().client().issue_alert(AlertIssued.model_validate(samples.alert()), details="x")


def test_an_unknown_cancel_reason_fails_before_sending() -> None:
    script = Script()
    with pytest.raises(ValueError):
        script.client().cancel_alert("C1", "BORED")
    assert script.requests == []


# -- the client against the real app (in-memory adapters) -----------------------------


def test_client_and_app_agree(http: TestClient, publisher: MemoryPublisher) -> None:
    client = IntakeClient("http://testserver", http=http)  # TestClient is an httpx.Client
    alert = AlertIssued.model_validate(samples.alert())
    first = client.issue_alert(alert, idempotency_key="k-e2e")
    again = client.issue_alert(alert, idempotency_key="k-e2e")
    assert first == again
    assert first.type == "homeward.alerts.AlertIssued"
    assert len(publisher.events()) == 1

    sighting = client.report_sighting(alert.case_id, **samples.sighting())
    assert sighting.type == "homeward.alerts.SightingReported"
    update = client.update_alert(alert.case_id, new_information="More test info.")
    assert update.case_id == alert.case_id
    done = client.cancel_alert(alert.case_id, "FOUND", "Found safe (test).")
    assert done.type == "homeward.alerts.AlertCancelled"
    assert len(publisher.events()) == 4

    with pytest.raises(IntakeError) as info:
        client.issue_alert(**samples.alert(child={**samples.alert()["child"], "age_years": 40}))
    assert info.value.status == 422
    assert info.value.fields == ["child.age_years"]
    assert "child.age_years" in str(info.value)
    assert len(publisher.events()) == 4


# -- the routes after the alert ---------------------------------------------------------

REPORT_ANSWER = {**ANSWER, "case_id": "RPT-1", "report_id": "RPT-1", "topic": "police.reports.v1"}


def test_answer_referral_sends_the_coded_answer_to_the_quoted_path() -> None:
    script = Script(accepted())
    script.client().answer_referral(
        "C/1", "R 1", "AG-1", "rejected", reason="no_capacity", note="Full (test)."
    )
    [req] = script.requests
    assert req.url.raw_path == b"/v1/referrals/C%2F1/R%201/answers"
    assert req.read() == (
        b'{"agency_id":"AG-1","status":"rejected","reason":"no_capacity","note":"Full (test)."}'
    )
    uuid.UUID(req.headers["Idempotency-Key"])


def test_an_unknown_status_or_code_fails_before_sending() -> None:
    script = Script()
    client = script.client()
    with pytest.raises(ValueError):
        client.answer_referral("C1", "R1", "AG-1", "done")
    with pytest.raises(ValueError):
        client.answer_referral("C1", "R1", "AG-1", "rejected", reason="bored")
    assert script.requests == []


def test_an_illegal_transition_is_raised_naming_status() -> None:
    refusal = httpx.Response(
        409,
        json={
            "error": "illegal_transition",
            "message": "status: cannot go from requested to completed",
            "errors": [{"field": "status", "reason": "cannot go from requested to completed"}],
            "allowed": ["accepted", "received", "rejected"],
        },
    )
    script = Script(refusal)
    with pytest.raises(IntakeError) as info:
        script.client().answer_referral("C1", "R1", "AG-1", "completed", outcome="service_provided")
    assert info.value.status == 409 and info.value.code == "illegal_transition"
    assert info.value.fields == ["status"]
    assert len(script.requests) == 1


def test_file_report_returns_the_report_id_and_retries_with_one_key() -> None:
    script = Script(
        httpx.Response(503, json={"error": "unavailable", "message": "m", "errors": []}),
        httpx.Response(202, json=REPORT_ANSWER),
    )
    got = script.client().file_report(**samples.report())
    assert got.report_id == "RPT-1"
    a, b = script.keys()
    assert a == b
    assert b'"report_id"' not in script.requests[0].read()


def test_file_report_takes_a_mandatory_report_model_with_its_id() -> None:
    from homeward.events import MandatoryReportFiled

    script = Script(httpx.Response(202, json=REPORT_ANSWER))
    model = MandatoryReportFiled.model_validate({**samples.report(), "case_id": "RPT-1"})
    script.client().file_report(model)
    sent = json.loads(script.requests[0].read())
    assert sent["report_id"] == "RPT-1" and "case_id" not in sent


def test_reads_are_retried_without_a_key() -> None:
    state = {
        "case_id": "C1",
        "referral_id": "R1",
        "rule_id": "health_check",
        "agency_id": "HL-1",
        "agency_type": "health",
        "offer": 1,
        "status": "requested",
        "changed_at": "2026-01-01T08:00:00Z",
        "allowed_answers": ["accepted", "received", "rejected"],
    }
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=state))
    got = script.client().referral("C1", "R1")
    assert got.status.value == "requested" and got.allowed_answers[0] == "accepted"
    assert script.keys() == [None, None]
    assert [r.method for r in script.requests] == ["GET", "GET"]


def test_timeline_leaves_clearance_to_the_token() -> None:
    empty = {
        "case_id": "C1",
        "clearance": "police",
        "partitions": {},
        "entries": [],
        "records_read": 0,
        "skipped": 0,
    }
    script = Script(httpx.Response(200, json=empty))
    got = script.client().timeline("C1")
    assert got.entries == [] and got.clearance == "police"
    # No clearance parameter any more: the bearer token's roles decide.
    assert "clearance" not in script.requests[0].url.params


def test_client_and_app_agree_on_the_new_routes(
    http: TestClient, publisher: MemoryPublisher, referrals: Any, alerts: Any
) -> None:
    samples.seed_alert(alerts)  # the rescue closes it
    from homeward.events import RescueNotified
    from tests.unit.intake.test_routes_referrals import changed, record

    client = IntakeClient("http://testserver", http=http)
    rescue = RescueNotified.model_validate(samples.rescue())
    assert client.notify_rescue(rescue).topic == "test.police.rescues.v1"
    dna = client.record_dna_comparison(rescue.case_id, **samples.dna_comparison())
    assert dna.topic == "test.police.referrals.v1"

    record(referrals, changed("requested"))
    answered = client.answer_referral(rescue.case_id, "REF-TEST-1", "CA-TEST-1", "accepted")
    assert answered.topic == "test.referrals.answers.v1"
    assert client.referral(rescue.case_id, "REF-TEST-1").pending_answer is not None
    with pytest.raises(IntakeError) as info:
        client.answer_referral(rescue.case_id, "REF-TEST-1", "CA-TEST-1", "received")
    assert (info.value.status, info.value.code, info.value.fields) == (
        409,
        "illegal_transition",
        ["status"],
    )
    with pytest.raises(IntakeError) as missing:
        client.answer_referral(rescue.case_id, "REF-NONE", "CA-TEST-1", "accepted")
    assert missing.value.status == 404

    filed = client.file_report(**samples.report())
    ack = client.acknowledge_report(filed.report_id, "Sampleville Police Test Unit", "PS-TEST-1")
    assert ack.case_id == filed.report_id and ack.topic == "test.police.reports.v1"

    timeline = client.timeline(rescue.case_id)
    kinds = [e.type.rsplit(".", 1)[1] for e in timeline.entries]
    # Other agencies' answers are on the timeline as the router records them
    # (ReferralStatusChanged); their own topic is not read.
    assert sorted(kinds) == ["DnaComparisonRecorded", "RescueNotified"]
    assert len(publisher.events()) == 5
