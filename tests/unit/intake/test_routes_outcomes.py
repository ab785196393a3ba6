"""Case outcomes (issue 14): the procuratorate and the court record their
decisions on a case; each stage is its authority's alone, the deciding agency
is the caller's own, and the timeline shows the outcome to police and the
judicial roles only."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from homeward.codec import Codec
from homeward.events import CaseOutcomeRecorded
from homeward_intake.publisher import MemoryPublisher
from tests.unit.intake import samples
from tests.unit.intake.idp import TestIdp, bearer

CASE = samples.CASE_ID
AT = "2026-11-20T10:00:00+08:00"


def court(idp: TestIdp, agency_id: str = "CT-TEST-1", **kw: Any) -> dict[str, str]:
    return bearer(
        idp.mint(agency_id=agency_id, agency_type="court", roles=["judicial_officer"], **kw)
    )


def procuratorate(idp: TestIdp) -> dict[str, str]:
    return bearer(
        idp.mint(agency_id="PR-TEST-1", agency_type="procuratorate", roles=["judicial_officer"])
    )


def outcome(stage: str, **kw: Any) -> dict[str, Any]:
    return {"stage": stage, "decided_at": AT, "reference": f"TEST-{stage}-0001", **kw}


def published(publisher: MemoryPublisher) -> list[tuple[str, CaseOutcomeRecorded]]:
    codec = Codec()
    out = []
    for topic, rec in publisher.sent:
        event = codec.decode(rec.value, list(rec.headers)).event
        if isinstance(event, CaseOutcomeRecorded):
            out.append((topic, event))
    return out


def test_the_court_records_a_judgement_as_its_own_on_the_police_only_topic(
    http: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    r = http.post(
        f"/v1/cases/{CASE}/outcomes",
        json=outcome("judgement", result="convicted"),
        headers=court(idp),
    )
    assert r.status_code == 202, r.text
    ((topic, event),) = published(publisher)
    assert topic == "test.police.case_outcomes.v1"
    assert (event.case_id, event.stage, event.result) == (CASE, "judgement", "convicted")
    assert (event.authority_id, event.authority_type) == ("CT-TEST-1", "court")
    assert event.actor is not None and event.actor.agency_id == "CT-TEST-1"


def test_each_stage_is_its_authoritys_alone_and_nothing_is_published(
    http: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    r = http.post(f"/v1/cases/{CASE}/outcomes", json=outcome("tried"), headers=procuratorate(idp))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "stage", r.text
    r = http.post(f"/v1/cases/{CASE}/outcomes", json=outcome("charged"), headers=court(idp))
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "stage", r.text
    # Police and everyone else lack the action.
    police = bearer(idp.mint())
    assert (
        http.post(f"/v1/cases/{CASE}/outcomes", json=outcome("charged"), headers=police).status_code
        == 403
    )
    assert published(publisher) == []


def test_a_judgement_needs_its_result_and_no_other_stage_has_one(
    http: TestClient, idp: TestIdp, publisher: MemoryPublisher
) -> None:
    r = http.post(f"/v1/cases/{CASE}/outcomes", json=outcome("judgement"), headers=court(idp))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "result", r.text
    r = http.post(
        f"/v1/cases/{CASE}/outcomes",
        json=outcome("charged", result="convicted"),
        headers=procuratorate(idp),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "result", r.text
    r = http.post(
        f"/v1/cases/{CASE}/outcomes",
        json=outcome("tried", authority_id="CT-OTHER-9"),
        headers=court(idp),
    )
    assert r.status_code == 422  # the deciding agency is the token's, never the body's
    assert published(publisher) == []


def test_the_timeline_shows_outcomes_to_police_and_the_judicial_roles_only(
    http: TestClient, idp: TestIdp
) -> None:
    assert http.post("/v1/alerts", json=samples.alert()).status_code == 202
    assert http.post("/v1/rescues", json=samples.rescue(closes_alert=False)).status_code == 202
    assert (
        http.post(
            f"/v1/cases/{CASE}/outcomes", json=outcome("charged"), headers=procuratorate(idp)
        ).status_code
        == 202
    )

    def entries(headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
        body = http.get(f"/v1/cases/{CASE}/timeline", headers=headers).json()
        return body["clearance"], {e["type"].rsplit(".", 1)[1]: e for e in body["entries"]}

    office = bearer(
        idp.mint(
            agency_id="CO-TEST-1", agency_type="coordination_office", roles=["coordination_officer"]
        )
    )
    clearance, seen = entries(office)
    assert clearance == "none" and seen["CaseOutcomeRecorded"]["summary"] is None
    clearance, seen = entries(court(idp))
    assert clearance == "judicial"
    assert (
        seen["CaseOutcomeRecorded"]["summary"]
        == "charged (procuratorate PR-TEST-1, TEST-charged-0001)"
    )
    assert seen["RescueNotified"]["summary"] is None  # the rest of police's content stays police's
    clearance, seen = entries(bearer(idp.mint()))
    assert clearance == "police" and seen["CaseOutcomeRecorded"]["summary"]
