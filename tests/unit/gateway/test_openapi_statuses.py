"""Found by schemathesis against the live gateway (docs/fuzzing.md, "The HTTP
APIs"): routes answered statuses their OpenAPI did not list (401 and 403 on
every authenticated route, 400, 413 and 415 from the body guard, 404 from the
CAP feed and the tips, 503 when Kafka does not confirm) and the CAP feed sent
XML documented as JSON. Each answer below is one a caller really gets, and now
one its route documents, with the error body it really has."""

from __future__ import annotations

from fastapi.testclient import TestClient

from homeward.topology import Topology
from homeward_gateway.app import create_app
from homeward_gateway.public import CapSettings, mount
from homeward_gateway.service import Gateway, MemorySink
from homeward_gateway.settings import GatewaySettings
from homeward_gateway.store import InboxStore
from tests.openapi_conformance import assert_documented
from tests.unit.gateway.conftest import HOSPITAL, POLICE, World
from tests.unit.gateway.test_api import civil_alert
from tests.unit.gateway.tips.test_routes import World as TipsWorld
from tests.unit.intake.idp import TestIdp

AUTHENTICATED = [
    ("GET", "/v1/inbox", "/v1/inbox"),
    ("GET", "/v1/inbox/{delivery_id}", "/v1/inbox/D-A1"),
    ("POST", "/v1/inbox/{delivery_id}/ack", "/v1/inbox/D-A1/ack"),
    ("POST", "/v1/referrals/{delivery_id}/answer", "/v1/referrals/D-A1/answer"),
    ("GET", "/v1/reports", "/v1/reports"),
    ("POST", "/v1/reports/{report_id}/ack", "/v1/reports/R-1/ack"),
    ("GET", "/v1/anomalies", "/v1/anomalies"),
    ("GET", "/v1/anomalies/{anomaly_id}", "/v1/anomalies/A-1"),
]
ACK = ("POST", "/v1/inbox/{delivery_id}/ack")


def test_every_authenticated_route_documents_its_401_and_403(world: World) -> None:
    openapi = world.client.app.openapi()  # type: ignore[attr-defined]
    for method, template, path in AUTHENTICATED:
        body = {"status": "ACCEPTED"} if template.endswith("/answer") else None
        anon = world.client.request(method, path, json=body)
        assert anon.status_code == 401, (path, anon.text)
        assert_documented(openapi, method, template, anon)
        hospital = world.client.request(method, path, json=body, headers=world.auth(HOSPITAL))
        assert hospital.status_code == 403, (path, hospital.text)
        assert_documented(openapi, method, template, hospital)


def test_a_write_documents_the_body_guards_400_413_415_and_kafkas_503(world: World) -> None:
    openapi = world.client.app.openapi()  # type: ignore[attr-defined]
    civil_alert(world, "D-A1", agency="PS-A")
    police = world.auth(POLICE)
    json_headers = {**police, "Content-Type": "application/json"}
    cases = {
        400: world.client.post("/v1/inbox/D-A1/ack", content=b"{", headers=json_headers),
        413: world.client.post(
            "/v1/inbox/D-A1/ack", content=b"{" + b" " * 20_000 + b"}", headers=json_headers
        ),
        415: world.client.post(
            "/v1/inbox/D-A1/ack", content=b"note", headers={**police, "Content-Type": "text/plain"}
        ),
    }
    world.sink.down = True
    cases[503] = world.client.post("/v1/inbox/D-A1/ack", headers=police)
    for status, resp in cases.items():
        assert resp.status_code == status, (status, resp.text)
        assert_documented(openapi, *ACK, resp)


def test_the_cap_feed_documents_its_xml_and_its_404() -> None:
    gateway = Gateway(InboxStore(), MemorySink(), Topology.load(prefix=""))
    cap = CapSettings(sender="test@example.invalid", timezone="UTC")
    app = create_app(
        gateway,
        GatewaySettings(),
        TestIdp().verifier(),
        mounts=[lambda a, g, s: mount(a, g, s, cap=cap)],
    )
    openapi = app.openapi()
    with TestClient(app) as client:
        index = client.get("/public/cap/index.atom")
        assert index.status_code == 200
        assert_documented(openapi, "GET", "/public/cap/index.atom", index)
        missing = client.get("/public/cap/CASE-NONE.1.xml")
        assert missing.status_code == 404
        assert_documented(openapi, "GET", "/public/cap/{identifier}.xml", missing)


def test_the_police_tip_routes_document_401_404_and_400() -> None:
    w = TipsWorld()
    with w.client:
        openapi = w.client.app.openapi()  # type: ignore[attr-defined]
        for method, template, path in [
            ("GET", "/v1/tips", "/v1/tips"),
            ("GET", "/v1/tips/{tip_id}", "/v1/tips/TIP-NONE"),
            ("POST", "/v1/tips/{tip_id}/ack", "/v1/tips/TIP-NONE/ack"),
        ]:
            anon = w.client.request(method, path)
            assert anon.status_code == 401
            assert_documented(openapi, method, template, anon)
            if template != "/v1/tips":
                missing = w.client.request(method, path, headers=w.police())
                assert missing.status_code == 404, missing.text
                assert_documented(openapi, method, template, missing)
        bad = w.client.post(
            "/v1/tips/TIP-NONE/ack",
            content=b"{",
            headers={**w.police(), "Content-Type": "application/json"},
        )
        assert bad.status_code == 400
        assert_documented(openapi, "POST", "/v1/tips/{tip_id}/ack", bad)
        tip = w.client.post("/public/v1/tips", content=b"x", headers={"Content-Type": "text/plain"})
        assert tip.status_code == 415
        assert_documented(openapi, "POST", "/public/v1/tips", tip)
