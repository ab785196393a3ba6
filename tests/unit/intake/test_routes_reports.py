"""Mandatory reports and their acknowledgement over in-memory adapters: the
report id (given, or made so that a retry names the same report), the police
topic, refusals naming the field, nothing published on a 4xx."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.codec import Codec
from homeward.events import MandatoryReportFiled, ReportAcknowledged
from homeward_intake.publisher import MemoryPublisher
from tests.unit.intake import samples
from tests.unit.intake.test_routes import assert_error_shape, fields_of

codec = Codec()
REPORT_ID = re.compile(r"^RPT-[0-9a-f]{32}$")


def reports(publisher: MemoryPublisher) -> list[Any]:
    return [codec.decode(r.value, r.headers) for r in publisher.events("reports")]


def test_a_report_gets_an_id_and_goes_to_police_only(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    resp = http.post("/v1/reports", json=samples.report())
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert REPORT_ID.match(body["report_id"]), body
    assert body["case_id"] == body["report_id"]
    assert body["topic"] == "test.police.reports.v1"
    [filed] = reports(publisher)
    assert samples.bare(filed.event) == MandatoryReportFiled.model_validate(
        {**samples.report(), "case_id": body["report_id"]}
    )
    assert filed.meta.classification.value == "police-only"
    assert publisher.sent[0][1].key == body["report_id"].encode()
    assert publisher.topics() == ["test.police.reports.v1"]


def test_a_given_report_id_is_kept(http: TestClient, publisher: MemoryPublisher) -> None:
    resp = http.post("/v1/reports", json=samples.report(report_id="SCHOOL-RPT-7"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["report_id"] == "SCHOOL-RPT-7"
    assert reports(publisher)[0].event.case_id == "SCHOOL-RPT-7"


def test_a_retry_names_the_same_report_and_publishes_nothing_more(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    key = {"Idempotency-Key": "k-report-1"}
    first = http.post("/v1/reports", json=samples.report(), headers=key)
    again = http.post("/v1/reports", json=samples.report(), headers=key)
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(reports(publisher)) == 1
    changed = http.post("/v1/reports", json=samples.report(observed="Something else."), headers=key)
    assert_error_shape(changed, 409, "idempotency_conflict")
    # Without a key every report is a new one.
    a = http.post("/v1/reports", json=samples.report()).json()["report_id"]
    b = http.post("/v1/reports", json=samples.report()).json()["report_id"]
    assert a != b and first.json()["report_id"] not in (a, b)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["reporter"].pop("name"), "reporter.name"),
        (lambda b: b.update(sector="bank"), "sector"),
        (lambda b: b.update(observed=""), "observed"),
        (lambda b: b.update(observed_at="2026-01-04T08:30:00"), "observed_at"),
        (lambda b: b["person"].update(description=""), "person.description"),
        (lambda b: b.update(report_id="bad id"), "report_id"),
        (lambda b: b.update(case_id="C1"), "case_id"),
    ],
)
def test_an_invalid_report_is_422_naming_the_field(
    http: TestClient, publisher: MemoryPublisher, mutate: Any, field: str
) -> None:
    body = samples.report()
    mutate(body)
    resp = http.post("/v1/reports", json=body, headers={"Idempotency-Key": "k-bad-report"})
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert "Test Teacher B" not in resp.text  # the reporter is never echoed
    assert publisher.sent == []


def test_an_acknowledgement_goes_to_the_reports_topic_keyed_by_the_report(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    resp = http.post("/v1/reports/RPT-TEST-1/acknowledgement", json=samples.report_ack())
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "test.police.reports.v1"
    assert resp.json()["case_id"] == "RPT-TEST-1"
    [ack] = reports(publisher)
    assert samples.bare(ack.event) == ReportAcknowledged(
        case_id="RPT-TEST-1", **samples.report_ack()
    )
    assert publisher.sent[0][1].key == b"RPT-TEST-1"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("RPT-TEST-1", {"agency_id": "PS-1"}, "police_unit"),
        ("RPT-TEST-1", samples.report_ack(agency_id="bad id"), "agency_id"),
        ("RPT-TEST-1", samples.report_ack(extra=1), "extra"),
        ("bad id", samples.report_ack(), "report_id"),
    ],
)
def test_an_invalid_acknowledgement_is_422_naming_the_field(
    http: TestClient, publisher: MemoryPublisher, path: str, body: dict[str, Any], field: str
) -> None:
    resp = http.post(f"/v1/reports/{path}/acknowledgement", json=body)
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert publisher.sent == []
