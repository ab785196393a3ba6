"""The gateway's HTTP API: each agency sees only its own inbox, every action is
checked against the roles table, and each write publishes exactly the SDK's
record with the caller as actor, on the audit record too."""

from __future__ import annotations

from homeward.audit import AuditOutcome
from homeward.events import AgencyAcknowledgement, ReferralAnswered, ReportAcknowledged
from homeward_agency.delivery import acknowledgement
from tests.unit.agency import samples as s
from tests.unit.gateway.conftest import (
    CIVIL_STAFF,
    CIVIL_SYSTEM,
    HOSPITAL,
    OTHER_CIVIL,
    POLICE,
    World,
)
from tests.unit.gateway.samples import CODEC, alert, delivered, referral


def civil_alert(world: World, delivery_id: str, agency: str = "CIV-A") -> None:
    world.store.add(
        delivered(
            s.delivery(agency, delivery_id, agency_type="civil_affairs"),
            agency,
            "inbox.civil_affairs.v1",
        )
    )


def test_an_agency_sees_only_its_own_deliveries_and_another_agencys_id_is_404(world: World) -> None:
    civil_alert(world, "D-A1")
    civil_alert(world, "D-B1", agency="CIV-B")
    civil_alert(world, "D-A2")
    resp = world.client.get("/v1/inbox", headers=world.auth(CIVIL_SYSTEM))
    assert resp.status_code == 200, resp.text
    assert [i["delivery_id"] for i in resp.json()["items"]] == ["D-A2", "D-A1"]
    mine = world.client.get("/v1/inbox/D-A1", headers=world.auth(CIVIL_STAFF))
    assert mine.status_code == 200 and mine.json()["alert"]["closed"] is False
    theirs = world.client.get("/v1/inbox/D-B1", headers=world.auth(CIVIL_SYSTEM))
    unknown = world.client.get("/v1/inbox/D-NOPE", headers=world.auth(CIVIL_SYSTEM))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()  # nothing tells the two apart
    assert theirs.json()["errors"][0]["field"] == "delivery_id"


def test_pages_follow_the_cursor(world: World) -> None:
    for i in range(5):
        civil_alert(world, f"D-{i}")
    first = world.client.get("/v1/inbox?limit=2", headers=world.auth(CIVIL_SYSTEM)).json()
    assert [i["delivery_id"] for i in first["items"]] == ["D-4", "D-3"]
    cursor = first["next_cursor"]
    second = world.client.get(
        f"/v1/inbox?limit=2&cursor={cursor}", headers=world.auth(CIVIL_SYSTEM)
    ).json()
    assert [i["delivery_id"] for i in second["items"]] == ["D-2", "D-1"]
    bad = world.client.get("/v1/inbox?limit=0", headers=world.auth(CIVIL_SYSTEM))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"


def test_anonymous_is_401_and_a_role_without_the_inbox_is_403(world: World) -> None:
    civil_alert(world, "D-A1")
    anon = world.client.get("/v1/inbox")
    assert anon.status_code == 401 and anon.json()["error"] == "invalid_token"
    assert "Bearer" in anon.headers["WWW-Authenticate"]
    hospital = world.client.get("/v1/inbox", headers=world.auth(HOSPITAL))
    assert hospital.status_code == 403 and hospital.json()["error"] == "insufficient_scope"
    ack = world.client.post("/v1/inbox/D-A1/ack", headers=world.auth(HOSPITAL))
    assert ack.status_code == 403
    assert world.sink.sent == []
    refusals = [e for e in world.auditor.entries if e.outcome is AuditOutcome.REFUSED]
    assert [e.status for e in refusals] == [401, 403, 403]


def test_an_ack_publishes_the_sdks_acknowledgement_once_with_the_caller_as_actor(
    world: World,
) -> None:
    civil_alert(world, "D-A1")
    first = world.client.post("/v1/inbox/D-A1/ack", headers=world.auth(CIVIL_STAFF))
    assert first.status_code == 200, first.text
    assert first.json()["repeated"] is False
    assert first.json()["acknowledged"]["by"] == "staff-civ-a"
    again = world.client.post(
        "/v1/inbox/D-A1/ack", headers=world.auth(CIVIL_SYSTEM), json={"note": "again"}
    )
    assert again.status_code == 200
    assert again.json()["repeated"] is True
    assert again.json()["acknowledged"] == first.json()["acknowledged"]
    (sent,) = world.sent("alert_acks")
    ack = sent.event
    assert isinstance(ack, AgencyAcknowledgement)
    entry = world.store.get("CIV-A", "D-A1")
    assert entry is not None
    # Exactly what the SDK would send for this delivery, but for the actor.
    _, sdk = acknowledgement(CODEC, entry.delivery, "CIV-A", "")
    assert ack.model_dump(exclude={"actor"}) == sdk.model_dump(exclude={"actor"})
    assert ack.actor is not None
    assert (ack.actor.principal, ack.actor.agency_id, ack.actor.kind) == (
        "staff-civ-a",
        "CIV-A",
        "person",
    )
    assert sent.meta.causation_id == entry.delivery.meta.id
    (written,) = [e for e in world.auditor.entries if e.outcome is AuditOutcome.ACCEPTED]
    assert (written.action, written.principal, written.service) == (
        "alert.acknowledge",
        "staff-civ-a",
        "gateway",
    )
    shown = world.client.get("/v1/inbox/D-A1", headers=world.auth(CIVIL_SYSTEM)).json()
    assert shown["acknowledged"]["by"] == "staff-civ-a"


def test_a_referral_is_answered_not_acknowledged(world: World) -> None:
    world.store.add(referral("CIV-A", "REF-1"))
    # samples.referral is health-typed by default; the id is what matters here.
    resp = world.client.post("/v1/inbox/REF-1/ack", headers=world.auth(CIVIL_SYSTEM))
    assert resp.status_code == 409 and resp.json()["error"] == "not_acknowledgeable"
    assert world.sink.sent == []


def test_answers_follow_the_sdks_lifecycle(world: World) -> None:
    world.store.add(referral("CIV-A", "REF-1"))
    headers = world.auth(CIVIL_STAFF)
    illegal = world.client.post(
        "/v1/referrals/REF-1/answer",
        headers=headers,
        json={"status": "completed", "outcome": "service_provided"},
    )
    assert illegal.status_code == 409, illegal.text
    body = illegal.json()
    assert body["error"] == "illegal_transition" and body["state"] == "requested"
    assert "accepted" in body["allowed"]
    unknown = world.client.post(
        "/v1/referrals/REF-1/answer", headers=headers, json={"status": "maybe"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "status"
    no_reason = world.client.post(
        "/v1/referrals/REF-1/answer", headers=headers, json={"status": "rejected"}
    )
    assert no_reason.status_code == 422
    assert world.sink.sent == []
    ok = world.client.post(
        "/v1/referrals/REF-1/answer",
        headers=headers,
        json={"status": "rejected", "reason_code": "no_capacity", "note": "full (test)"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["topic"] == "referrals.answers.v1"
    (sent,) = world.sent("referral_answers")
    answer = sent.event
    assert isinstance(answer, ReferralAnswered)
    assert (answer.agency_id, answer.status.value, answer.reason) == (
        "CIV-A",
        "rejected",
        "no_capacity",
    )
    assert answer.actor is not None and answer.actor.principal == "staff-civ-a"
    # Rejected is final for this agency: the next step is refused before publishing.
    again = world.client.post(
        "/v1/referrals/REF-1/answer", headers=headers, json={"status": "accepted"}
    )
    assert again.status_code == 409 and again.json()["state"] == "rejected"
    other = world.client.post(
        "/v1/referrals/REF-1/answer",
        headers=world.auth(OTHER_CIVIL),
        json={"status": "accepted"},
    )
    assert other.status_code == 404


def test_police_answer_on_the_police_topic(world: World) -> None:
    world.store.add(
        delivered(s.referral("PS-A", "REF-P", agency_type="police"), "PS-A", "police.inbox.v1")
    )
    resp = world.client.post(
        "/v1/referrals/REF-P/answer", headers=world.auth(POLICE), json={"status": "accepted"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["topic"] == "police.referrals.v1"
    assert len(world.sent("police_referrals")) == 1 and world.sent("referral_answers") == []


def test_the_report_desk_is_police_only_and_acknowledges_once(world: World) -> None:
    from datetime import UTC, datetime

    world.store.add_report(s.report("RPT-1"), "ev-1", datetime(2030, 1, 1, tzinfo=UTC))
    assert world.client.get("/v1/reports", headers=world.auth(CIVIL_SYSTEM)).status_code == 403
    listed = world.client.get("/v1/reports", headers=world.auth(POLICE))
    assert [r["report_id"] for r in listed.json()] == ["RPT-1"]
    first = world.client.post(
        "/v1/reports/RPT-1/ack", headers=world.auth(POLICE), json={"police_unit": "Test Unit"}
    )
    assert first.status_code == 200 and first.json()["repeated"] is False
    again = world.client.post("/v1/reports/RPT-1/ack", headers=world.auth(POLICE))
    assert again.json()["repeated"] is True
    (sent,) = world.sent("reports")
    assert isinstance(sent.event, ReportAcknowledged)
    assert (sent.event.agency_id, sent.event.police_unit) == ("PS-A", "Test Unit")
    assert sent.event.actor is not None and sent.event.actor.agency_id == "PS-A"
    missing = world.client.post("/v1/reports/RPT-NOPE/ack", headers=world.auth(POLICE))
    assert missing.status_code == 404


def test_a_bus_that_is_down_is_503_and_nothing_is_recorded(world: World) -> None:
    civil_alert(world, "D-A1")
    world.sink.down = True
    resp = world.client.post("/v1/inbox/D-A1/ack", headers=world.auth(CIVIL_SYSTEM))
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert world.store.acknowledgement("CIV-A", "D-A1") is None


def test_probes_metrics_and_openapi(world: World) -> None:
    assert world.client.get("/livez").json() == {"status": "ok"}
    assert world.client.get("/readyz").status_code == 200
    civil_alert(world, "D-A1")
    metrics = world.client.get("/metrics").text
    assert "homeward_gateway_sse_clients" in metrics
    paths = world.client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/inbox",
        "/v1/inbox/stream",
        "/v1/inbox/{delivery_id}/ack",
        "/v1/referrals/{delivery_id}/answer",
        "/v1/reports",
    } <= set(paths)
    assert alert  # the samples module's builders are what the store tests use too
