"""The tip line over HTTP, with in-memory parts behind the real gateway app
(its JSON guard and error contract) and real RS256 tokens from the local
stand-in provider: what is answered, and what is published (only accepted
tips), audited (accepted tips, police reads and acknowledgements) and shown
to which unit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.audit import MemoryAuditor
from homeward.errors import PublishUnavailable
from homeward.events import TipAcknowledged, TipReceived
from homeward.topology import Topology
from homeward_gateway.app import create_app
from homeward_gateway.service import Gateway
from homeward_gateway.settings import GatewaySettings
from homeward_gateway.store import InboxStore
from homeward_gateway.tips import install
from homeward_gateway.tips.book import TipBook
from homeward_gateway.tips.cases import PublicCases
from homeward_gateway.tips.csrf import FormTokens
from homeward_gateway.tips.desk import TipDesk
from homeward_gateway.tips.line import TipLine
from homeward_gateway.tips.ratelimit import TipRateLimiter
from homeward_gateway.tips.settings import TipSettings
from tests.unit.gateway.tips.world import (
    HIDDEN_CASE,
    NOW,
    OFFICER,
    PUBLIC_CASE,
    Published,
    alert,
    tip_body,
)
from tests.unit.intake.idp import TestIdp, bearer

TOPIC = "police.tips.v1"


class Sink:
    def send(self, topic: str, record: Any) -> None:
        raise AssertionError("the inbox side is not used here")

    def ready(self) -> bool:
        return True


class World:
    def __init__(self, per_client: str = "1000/minute", global_limit: str = "1000/minute") -> None:
        self.idp = TestIdp()
        self.published = Published()
        self.auditor = MemoryAuditor()
        self.cases = PublicCases()
        self.cases.apply(alert(PUBLIC_CASE))
        self.cases.apply(alert(HIDDEN_CASE, public=False))
        self.desk = TipDesk(
            cases=self.cases,
            book=TipBook(),
            publish=self.published,
            auditor=self.auditor,
            topic=TOPIC,
            clock=lambda: NOW.timestamp(),
        )
        self.settings = TipSettings(per_client=per_client, global_limit=global_limit)
        line = TipLine(
            desk=self.desk,
            settings=self.settings,
            limiter=TipRateLimiter(per_client, global_limit),
            tokens=FormTokens(),
            ready=lambda: True,
        )
        gateway = Gateway(InboxStore(), Sink(), Topology.load(prefix=""), auditor=self.auditor)
        app = create_app(
            gateway,
            GatewaySettings(),
            self.idp.verifier(),
            mounts=[lambda a, g, s: install(a, line)],
        )
        self.client = TestClient(app)

    def police(self, unit: str = "POL-T1", roles: list[str] | None = None) -> dict[str, str]:
        return bearer(
            self.idp.mint(
                agency_id=unit,
                agency_type="police",
                roles=roles or ["police_officer"],
                azp=f"staff-{unit.lower()}",
                preferred_username=f"staff-{unit.lower()}",
            )
        )

    def tip(self, **overrides: Any) -> Any:
        return self.client.post("/public/v1/tips", json=tip_body(**overrides))


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    with w.client:
        yield w


def only_error(resp: Any, status: int, field: str | None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    doc: dict[str, Any] = resp.json()
    assert doc["errors"][0]["field"] == field, doc
    return doc


def test_a_public_tip_is_routed_to_the_cases_officer_and_unit(world: World) -> None:
    resp = world.tip(latitude=30.1, longitude=104.2)
    assert resp.status_code == 202, resp.text
    tip_id = resp.json()["tip_id"]
    ((topic, record),) = world.published.records
    (tip,) = world.published.events()
    assert topic == TOPIC and record.key == PUBLIC_CASE.encode()
    assert isinstance(tip, TipReceived)
    assert (tip.tip_id, tip.officer, tip.agency_id) == (tip_id, OFFICER, "POL-T1")
    assert tip.actor is not None and tip.actor.principal == "anonymous-public"
    assert dict(record.headers)["ce_classification"] == b"police-only"
    (entry,) = world.auditor.entries
    assert (entry.action, entry.outcome, entry.case_id) == ("tip.submit", "accepted", PUBLIC_CASE)
    assert "testclient" not in repr(entry) and "contact" not in entry.detail


def test_the_unit_sees_its_tips_and_another_unit_gets_404(world: World) -> None:
    tip_id = world.tip().json()["tip_id"]
    mine = world.client.get("/v1/tips", headers=world.police())
    assert [t["tip_id"] for t in mine.json()["tips"]] == [tip_id]
    assert mine.json()["tips"][0]["officer"]["officer_id"] == OFFICER.officer_id
    assert world.client.get("/v1/tips", headers=world.police("POL-T2")).json() == {"tips": []}
    only_error(
        world.client.get(f"/v1/tips/{tip_id}", headers=world.police("POL-T2")), 404, "tip_id"
    )
    ack = world.client.post(f"/v1/tips/{tip_id}/ack", headers=world.police("POL-T2"))
    only_error(ack, 404, "tip_id")
    assert world.client.get(f"/v1/tips/{tip_id}", headers=world.police()).status_code == 200
    assert len(world.published.records) == 1  # the refused ack published nothing


def test_police_acknowledge_with_a_verdict_and_its_code(world: World) -> None:
    tip_id = world.tip().json()["tip_id"]
    bad = world.client.post(
        f"/v1/tips/{tip_id}/ack",
        json={"verdict": "valid", "code": "NOT_THE_CHILD"},
        headers=world.police(),
    )
    only_error(bad, 422, "code")
    resp = world.client.post(
        f"/v1/tips/{tip_id}/ack",
        json={"verdict": "valid", "code": "LEAD_CONFIRMED"},
        headers=world.police(),
    )
    assert resp.status_code == 202, resp.text
    ack = world.published.events()[-1]
    assert isinstance(ack, TipAcknowledged)
    assert (ack.tip_id, ack.agency_id, ack.verdict.value, ack.code) == (
        tip_id,
        "POL-T1",
        "valid",
        "LEAD_CONFIRMED",
    )
    assert ack.actor is not None and ack.actor.agency_id == "POL-T1"
    shown = world.client.get(f"/v1/tips/{tip_id}", headers=world.police()).json()
    assert (shown["verdict"], shown["code"]) == ("valid", "LEAD_CONFIRMED")
    assert shown["acknowledged_at"] is not None
    assert "tip.acknowledge" in [e.action for e in world.auditor.entries]


def test_police_routes_need_a_token_and_the_role(world: World) -> None:
    assert world.client.get("/v1/tips").status_code == 401
    hospital = world.police(roles=["agency_caseworker"])
    assert world.client.get("/v1/tips", headers=hospital).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"case_id": "POL-T1-UNKNOWN-9"}, "case_id"),
        ({"case_id": HIDDEN_CASE}, "case_id"),  # not released to the public: same 404
    ],
)
def test_a_case_without_an_active_public_alert_is_404_naming_case_id(
    world: World, overrides: dict[str, Any], field: str
) -> None:
    only_error(world.tip(**overrides), 404, field)
    assert world.published.records == []


def test_a_closed_alert_takes_no_tips(world: World) -> None:
    from homeward.events import AlertCancelled, CancelReason

    world.cases.apply(AlertCancelled(case_id=PUBLIC_CASE, reason=CancelReason.FOUND))
    only_error(world.tip(), 404, "case_id")
    assert world.published.records == []


@pytest.mark.parametrize(
    ("seen", "field"),
    [(NOW + timedelta(hours=1), "seen_at"), (NOW - timedelta(days=2), "seen_at")],
)
def test_a_sighting_in_the_future_or_before_the_child_went_missing_is_422(
    world: World, seen: Any, field: str
) -> None:
    only_error(world.tip(seen_at=seen.isoformat()), 422, field)
    assert world.published.records == []


def test_abuse_gets_clear_4xx_and_publishes_nothing(world: World) -> None:
    c = world.client
    big = {**tip_body(), "description": "x" * 5000}
    only_error(c.post("/public/v1/tips", json=big), 413, "body")
    headers = {"content-type": "application/json"}
    only_error(c.post("/public/v1/tips", content=b'{"case_id": ', headers=headers), 400, "body")
    only_error(c.post("/public/v1/tips", content=b"[1, 2]", headers=headers), 400, "body")
    only_error(c.post("/public/v1/tips", content=b"\xff\xfe{}", headers=headers), 400, "body")
    bidi = world.tip(description="seen near \u202egate 3")
    assert "U+202E" in only_error(bidi, 422, "description")["message"]
    # Never the input back.
    assert "gate 3" not in bidi.text
    assert c.post("/public/v1/tips", content=b"case_id=x").status_code == 415
    assert world.published.records == [] and world.auditor.entries == []


def test_a_flood_is_429_with_retry_after_and_only_the_allowance_publishes() -> None:
    w = World(per_client="3/minute", global_limit="50/minute")
    with w.client:
        answers = [w.tip().status_code for _ in range(40)]
        assert answers == [202] * 3 + [429] * 37
        refused = w.tip()
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert len(w.published.records) == 3


def test_a_broker_that_does_not_acknowledge_is_503(world: World) -> None:
    world.published.fail = PublishUnavailable("broker down (test)")
    resp = world.tip()
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    assert world.auditor.entries == []


# -- the form ------------------------------------------------------------------------
def token_of(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "no token on the form"
    return found.group(1)


def form(world: World, lang: str = "zh-CN", **fields: str) -> Any:
    page = world.client.get(f"/public/tip?lang={lang}")
    data = {
        "form_token": token_of(page.text),
        "case_id": PUBLIC_CASE,
        "seen_at": "2026-12-02T17:30",  # local time: Asia/Shanghai, 09:30 UTC
        "place": "Testville coach station (fictional)",
        "description": "A girl in a red coat at gate 3.",
        "contact": "",
        **fields,
    }
    return world.client.post(f"/public/tip?lang={lang}", data=data)


def test_the_form_is_chinese_by_default_english_on_request_and_safe_to_serve(world: World) -> None:
    zh = world.client.get("/public/tip")
    assert (
        zh.status_code == 200 and '<html lang="zh-CN">' in zh.text and "提供失踪儿童线索" in zh.text
    )
    assert "frame-ancestors 'none'" in zh.headers["content-security-policy"]
    assert zh.headers["cache-control"] == "no-store"
    en = world.client.get("/public/tip?lang=en")
    assert "Send a tip about a missing child" in en.text
    assert '<label for="description">' in en.text  # every input has its label


def test_a_form_tip_is_published_with_the_forms_zone(world: World) -> None:
    resp = form(world, lang="en")
    assert resp.status_code == 201, resp.text
    assert "Thank you" in resp.text
    (tip,) = world.published.events()
    assert tip.channel == "form" and tip.contact is None
    assert tip.seen_at.isoformat() == "2026-12-02T09:30:00+00:00"
    assert tip.tip_id in resp.text


def test_the_form_refuses_a_missing_a_reused_or_a_forged_token(world: World) -> None:
    page = world.client.get("/public/tip")
    token = token_of(page.text)
    body = {"form_token": token, **{k: str(v) for k, v in tip_body().items()}}
    body["seen_at"] = "2026-12-02T17:30"
    assert world.client.post("/public/tip", data=body).status_code == 201
    assert world.client.post("/public/tip", data=body).status_code == 403  # used
    body["form_token"] = token[:-2] + "xx"
    assert world.client.post("/public/tip", data=body).status_code == 403
    del body["form_token"]
    assert world.client.post("/public/tip", data=body).status_code == 403
    assert len(world.published.records) == 1


def test_the_form_shows_errors_by_field_and_keeps_what_was_typed(world: World) -> None:
    resp = form(world, description="seen \u202e here", place="<script>alert(1)</script>")
    assert resp.status_code == 422
    assert "U+202E" in resp.text
    assert "<script>alert(1)</script>" not in resp.text  # escaped, not markup
    assert "&lt;script&gt;" in resp.text
    assert world.published.records == []
