"""The CAP feed end to end on the real broker: police issue a public alert
through intake (real Keycloak tokens), the real fan-out widens it with its
ticks (clock compressed) and sends media and online platforms PublicNotices,
the gateway (its own process) reads their inboxes, and its public feed, read
over HTTP, holds Alert, Update (the wider ring, a public update) and Cancel,
each valid CAP 1.2 with correct references, and nothing of the officer or
the exact last-seen point.

A drill (exercise) reaches only the agencies that opted into drills, marked
as one, and nothing of it is in any media or online-platform inbox or the feed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from lxml import etree

from homeward.agencies import Agency, AgencyType
from homeward.events import AlertDelivery
from homeward.geo import destination
from homeward_gateway.public.atom import ATOM_NS
from homeward_gateway.public.cap import CAP_NS
from homeward_gateway.public.schema import cap_errors
from tests.fixtures.bus import Bus
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.intake import IntakeProcess
from tests.integration.support import TopicReader
from tests.integration.test_fanout import fanout, inboxes
from tests.unit.fanout.geo import agency_at
from tests.unit.intake import samples

pytestmark = pytest.mark.integration
NS = {"cap": CAP_NS, "a": ATOM_NS}
# The exact last-seen point: only its 0.01° rounding may be published.
POINT = (30.123456, 104.654321)
OFFICER, PHONE = "Officer Secretname", "+00 111 2222"
SENDER = "homeward-test@example.invalid"


def near(agency_id: str, km: float, kind: AgencyType, drills: bool = False) -> Agency:
    """An agency of the demo realm (its system has a client: agency-system-<id>) near POINT."""
    lat, lon = destination(*POINT, 45.0 + 7 * km, km)
    return agency_at(0, km, type_=kind).model_copy(
        update={"id": agency_id, "latitude": lat, "longitude": lon, "drills": drills}
    )


def client_of(agency_id: str) -> str:
    return f"agency-system-{agency_id.lower()}"


def case_id() -> str:
    return f"POL-0001-CAP-{uuid.uuid4().hex[:8]}"


def alert_body(case: str, **overrides: object) -> dict[str, object]:
    return samples.alert(
        case,
        chief_officer={
            "officer_id": "OFF-CAP-1",
            "name": OFFICER,
            "unit": "刑侦测试队",
            "phone": PHONE,
        },
        child={"name": "测试儿童丙", "sex": "female", "age_years": 8, "clothing": "红色外套"},
        last_seen={
            "latitude": POINT[0],
            "longitude": POINT[1],
            "description": "虚构公园东门",
            "admin_code": "990101",
        },
        last_seen_at=(datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        target_types=[],
        public_summary="测试儿童丙，8岁，红色外套（合成数据）",
        details="内部：仅供警方",
        **overrides,
    )


class Feed:
    def __init__(self, url: str) -> None:
        self.url = f"{url}/public/cap"

    def index(self) -> etree._Element:
        r = httpx.get(f"{self.url}/index.atom", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        return etree.fromstring(r.content)

    def messages(self, case: str) -> list[etree._Element]:
        """The case's CAP messages, oldest first, each fetched over HTTP by its Atom link."""
        out = []
        for entry in reversed(self.index().findall("a:entry", NS)):
            href = entry.find("a:link[@rel='alternate']", NS).get("href")
            if f"/{case}." not in href:
                continue
            r = httpx.get(href, timeout=10)
            assert r.status_code == 200, href
            assert r.headers["content-type"].startswith("application/cap+xml")
            assert cap_errors(r.content) == [], r.text
            assert OFFICER not in r.text and PHONE not in r.text and "内部" not in r.text
            assert "30.123456" not in r.text and "104.654321" not in r.text
            assert "30.1234" not in r.text and "104.6543" not in r.text
            out.append(etree.fromstring(r.content))
        return out

    def until(self, case: str, n: int, timeout: float = 60) -> list[etree._Element]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages(case)
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.2)  # polling an HTTP feed, as its readers do


def text(el: etree._Element, path: str) -> str:
    return el.findtext(path, namespaces=NS) or ""


def test_a_public_alert_is_alert_update_and_cancel_in_the_cap_feed(
    bus: Bus,
    tmp_path: Path,
    start_intake: Callable[..., IntakeProcess],
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    # Every public channel in the first ring, so each inbox's first notice is the alert's.
    agencies = [
        near("MED-0001", 10, AgencyType.MEDIA),
        near("CYB-0001", 20, AgencyType.CYBERSPACE),
        near("POL-0002", 15, AgencyType.POLICE),
    ]
    # 1200x: the ring grows from 100 to 200 km 1.5 s after intake accepts the
    # alert (last seen 30 minutes before, the schedule's first step at 1 h).
    svc = fanout(
        bus,
        tmp_path,
        agencies,
        HOMEWARD_FANOUT_CLOCK_SPEED="1200",
        HOMEWARD_FANOUT_RADIUS_SCHEDULE="1:100,*:200",
    ).start("FANOUT_READY")
    intake = start_intake()
    gw = start_gateway(
        HOMEWARD_GATEWAY_CAP_SENDER=SENDER, HOMEWARD_GATEWAY_CAP_TIMEZONE="Asia/Shanghai"
    )
    feed = Feed(gw.url)
    case = case_id()
    auth = intake.auth()
    try:
        r = httpx.post(f"{intake.url}/v1/alerts", json=alert_body(case), headers=auth)
        assert r.status_code == 202, r.text
        got = feed.until(case, 2)
        assert [text(m, "cap:msgType") for m in got] == ["Alert", "Update"], gw.log_tail()
        circles = [m.findtext("cap:info/cap:area/cap:circle", namespaces=NS) for m in got]
        assert circles == ["30.12,104.65 100", "30.12,104.65 200"]
        # A public update: its new summary is an Update too.
        r = httpx.post(
            f"{intake.url}/v1/alerts/{case}/updates",
            json={"new_information": "内部线索", "public_summary": "测试儿童丙已换蓝色外套"},
            headers=auth,
        )
        assert r.status_code == 202, r.text
        got = feed.until(case, 3)
        assert "蓝色外套" in text(got[2], "cap:info/cap:description")
        r = httpx.post(
            f"{intake.url}/v1/alerts/{case}/cancellation", json={"reason": "FOUND"}, headers=auth
        )
        assert r.status_code == 202, r.text
        got = feed.until(case, 4)
    finally:
        svc.stop()
    assert [text(m, "cap:msgType") for m in got] == ["Alert", "Update", "Update", "Cancel"]
    ids = [text(m, "cap:identifier") for m in got]
    assert ids == [f"{case}.{n}" for n in range(1, 5)]
    for i, m in enumerate(got):
        assert text(m, "cap:status") == "Actual" and text(m, "cap:sender") == SENDER
        assert text(m, "cap:sent").endswith("+08:00")
        assert [el.text for el in m.findall("cap:info/cap:language", NS)] == ["zh-CN", "en"]
        earlier = [f"{SENDER},{ids[j]},{text(got[j], 'cap:sent')}" for j in range(i)]
        refs = text(m, "cap:references")
        assert (refs.split(" ") if refs else []) == earlier
    assert text(got[-1], "cap:info/cap:responseType") == "AllClear"
    assert httpx.get(f"{feed.url}/{case}.9.xml", timeout=10).status_code == 404


def test_a_drill_reaches_only_opted_in_agencies_and_never_the_public(
    bus: Bus,
    tmp_path: Path,
    start_intake: Callable[..., IntakeProcess],
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    agencies = [
        near("POL-0002", 10, AgencyType.POLICE, drills=True),
        near("POL-0003", 12, AgencyType.POLICE),
        near("EDU-0001", 14, AgencyType.EDUCATION),
        # Opted in or not, a public channel gets nothing of a drill.
        near("MED-0001", 16, AgencyType.MEDIA, drills=True),
        near("CYB-0001", 18, AgencyType.CYBERSPACE),
    ]
    svc = fanout(bus, tmp_path, agencies).start("FANOUT_READY")
    intake = start_intake()
    gw = start_gateway(
        HOMEWARD_GATEWAY_CAP_SENDER=SENDER, HOMEWARD_GATEWAY_CAP_TIMEZONE="Asia/Shanghai"
    )
    feed = Feed(gw.url)
    reader = TopicReader(bus.settings, inboxes(bus))
    drill, control = case_id(), case_id()
    auth = intake.auth()

    def of(case: str) -> list[AlertDelivery]:
        return [
            d.event
            for _, d in reader.decoded
            if isinstance(d.event, AlertDelivery) and d.event.case_id == case
        ]

    try:
        r = httpx.post(
            f"{intake.url}/v1/alerts", json=alert_body(drill, exercise=True), headers=auth
        )
        assert r.status_code == 202, r.text
        reader.until(lambda r: of(drill), 60, "the drill's delivery")
        # A real alert issued after the drill was fanned out: once its notices are
        # in both public inboxes and its Alert is in the feed, anything of the
        # drill for the public would have been there before it.
        r = httpx.post(f"{intake.url}/v1/alerts", json=alert_body(control), headers=auth)
        assert r.status_code == 202, r.text
        reader.until(
            lambda r: {d.agency_type for d in of(control)} >= {"media", "cyberspace"},
            60,
            "the control alert's public notices",
        )
        assert [text(m, "cap:msgType") for m in feed.until(control, 1)] == ["Alert"]
    finally:
        svc.stop()
    got = of(drill)
    assert {d.agency_id for d in got} == {"POL-0002"}, "only the opted-in agency"
    assert all(d.exercise for d in got) and got[0].event.exercise
    public = {t.value for t in (AgencyType.MEDIA, AgencyType.CYBERSPACE)}
    assert not [d for d in got if d.agency_type in public]
    assert feed.messages(drill) == []
    atom = httpx.get(f"{feed.url}/index.atom", timeout=10).text
    assert drill not in atom and control in atom
    assert httpx.get(f"{feed.url}/{drill}.1.xml", timeout=10).status_code == 404
    # The real alert reached everyone in range, unmarked.
    assert {d.agency_id for d in of(control)} == {a.id for a in agencies}
    assert not any(d.exercise for d in of(control))
    # Over the gateway's API, with each agency's own token: the opted-in
    # agency's inbox shows the drill marked; each public channel's has the
    # real alert's notice and nothing of the drill.
    mine = gw.inbox(gw.auth(client_of("POL-0002")))
    [entry] = [e for e in mine if e["case_id"] == drill]
    assert entry["kind"] == "alert" and entry["event"]["exercise"] is True
    assert entry["event"]["event"]["exercise"] is True
    for agency_id in ("MED-0001", "CYB-0001", "POL-0003", "EDU-0001"):
        theirs = gw.inbox(gw.auth(client_of(agency_id)))
        assert [e for e in theirs if e["case_id"] == drill] == [], agency_id
        assert [e for e in theirs if e["case_id"] == control], agency_id
