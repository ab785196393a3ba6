"""The feed mounted on the real gateway app over an in-memory store: its
routes answer without a token and only GET, the rest of the gateway still
asks for one, and what the store hands the feed (public notices, not a drill
and not another role's delivery) is what the routes serve."""

from __future__ import annotations

from fastapi.testclient import TestClient
from lxml import etree

from homeward.topology import Topology
from homeward_gateway.app import create_app
from homeward_gateway.public import CapSettings, mount
from homeward_gateway.public.atom import ATOM_NS
from homeward_gateway.public.schema import cap_errors
from homeward_gateway.service import Gateway, MemorySink
from homeward_gateway.settings import GatewaySettings
from homeward_gateway.store import InboxStore
from tests.unit.cap.test_cap_messages import delivery, notice
from tests.unit.gateway.samples import alert, delivered
from tests.unit.intake.idp import TestIdp

A = {"a": ATOM_NS}


def test_the_feed_is_public_read_only_and_serves_what_the_store_saw() -> None:
    store = InboxStore()
    gateway = Gateway(store, MemorySink(), Topology.load(prefix=""))
    settings = CapSettings(sender="test@example.invalid", timezone="UTC")
    app = create_app(
        gateway,
        GatewaySettings(),
        TestIdp().verifier(),
        mounts=[lambda app, gw, s: mount(app, gw, s, cap=settings)],
    )
    store.add(delivered(delivery(notice(), 1), "MED-0001", "inbox.media.v1"))
    store.add(delivered(delivery(notice(), 2), "MED-0002", "inbox.media.v1"))  # a copy
    drill = notice(case_id="CASE-DRILL-1")
    store.add(delivered(delivery(drill, 3, exercise=True), "MED-0003", "inbox.media.v1"))
    store.add(alert("HL-A", "D-HL-1"))  # a restricted alert delivery: not the feed's
    assert app.state.cap_feed.refused_exercises == 1
    with TestClient(app) as client:
        index = client.get("/public/cap/index.atom")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("application/atom+xml")
        entries = etree.fromstring(index.content).findall("a:entry", A)
        assert len(entries) == 1
        href = entries[0].find("a:link", A).get("href")
        assert href == "http://testserver/public/cap/CASE-CAP-2.1.xml"
        msg = client.get("/public/cap/CASE-CAP-2.1.xml")
        assert msg.status_code == 200 and cap_errors(msg.content) == []
        assert b"<sender>test@example.invalid</sender>" in msg.content
        assert b"CASE-DRILL-1" not in index.content
        assert client.get("/public/cap/CASE-DRILL-1.1.xml").status_code == 404
        assert client.post("/public/cap/index.atom").status_code == 405
        assert client.put("/public/cap/CASE-CAP-2.1.xml").status_code == 405
        # The agencies' own routes still need a token.
        assert client.get("/v1/inbox").status_code == 401
