"""The public tip line on the real broker (SCRAM, ACLs: the gateway under its
own principal) with real Keycloak tokens: a tip for a public alert lands on
police.tips.v1 naming the case's chief officer and unit, the unit sees it and
another unit gets 404; a flood gets 429s and publishes only the allowance;
oversized and malformed tips publish nothing; an unacknowledged tip is made
overdue by the real referral router."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeward.actors import agency_actor
from homeward.codec import Codec
from homeward.events import (
    AlertIssued,
    ClockTick,
    ResponsibleOfficer,
    TipAcknowledged,
    TipOverdue,
    TipReceived,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from homeward_demo.processes import ServiceProcess
from tests.conformance.strategies import samples
from tests.fixtures.bus import Bus
from tests.fixtures.idp import Idp
from tests.integration.support import TopicReader, service
from tests.integration.test_intake import drain

pytestmark = pytest.mark.integration

POLICE = "police-case-system"  # POL-0001
OTHER_STATION = "police-station-2-system"  # POL-0002
OFFICER = ResponsibleOfficer(
    officer_id="OFFICER-TIP-7", name="Officer Example Tip", unit="Mockford Station 1 (fictional)"
)
DIRECTORY = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "agencies.csv"


@dataclass
class Line:
    bus: Bus
    idp: Idp
    url: str
    proc: ServiceProcess
    codec: Codec

    def alert(self, *, public: bool = True, minutes_ago: int = 30) -> str:
        """An alert of POL-0001 on alerts.events.v1, as intake would have put it."""
        case = f"POL-0001-TIP-{uuid.uuid4().hex[:8]}"
        base = samples()["homeward.alerts.AlertIssued"]
        assert isinstance(base, AlertIssued)
        event = base.model_copy(
            update={
                "case_id": case,
                "chief_officer": OFFICER,
                "last_seen_at": utcnow() - timedelta(minutes=minutes_ago),
                "public_summary": "MISSING (test): girl, 6, red coat" if public else "",
                "actor": agency_actor("POL-0001", "police", POLICE),
            }
        )
        rec, _ = self.codec.encode(event, key=case, source="/test/intake")
        p = producer(self.bus.settings)
        try:
            send_all(p, [(self.bus.topic("alert_events"), rec)])
        finally:
            p.close()
        return case

    def tip(self, case: str, **overrides: Any) -> httpx.Response:
        body = {
            "case_id": case,
            "seen_at": (utcnow() - timedelta(minutes=5)).isoformat(),
            "place": "Mockford coach station (fictional)",
            "description": "A girl in a red coat with an adult at gate 3.",
            "contact": "+86 000 0000 0000 (fake)",
            **overrides,
        }
        return httpx.post(f"{self.url}/public/v1/tips", json=body, timeout=30)

    def police(self, client_id: str = POLICE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.client(client_id).token()}"}

    def published(self) -> list[Any]:
        return [
            self.codec.decode(r.value, r.headers).event
            for r in drain(self.bus, "police_tips")
            if r.key != b"sentinel"
        ]


def started_gateway(svc: ServiceProcess) -> str:
    """Start the gateway and wait for both its lines, in either order: the
    gateway's (its inboxes read) and the tip line's; its URL."""
    gateway_ready = threading.Event()
    svc.on_line = lambda ln: gateway_ready.set() if ln.startswith("GATEWAY_READY ") else None
    svc.start("TIPS_READY")
    assert gateway_ready.wait(60), "".join(svc.lines[-30:])
    return next(ln for ln in svc.lines if ln.startswith("GATEWAY_READY ")).split()[1]


@pytest.fixture
def start_line(bus: Bus, idp: Idp, tmp_path: Path) -> Iterator[Callable[..., Line]]:
    started: list[ServiceProcess] = []

    def start(**env: str) -> Line:
        svc = service(
            ["-m", "homeward_gateway"],
            bus.env(
                "gateway",
                HOMEWARD_GATEWAY_PORT="0",
                HOMEWARD_OIDC_ISSUER=idp.issuer,
                **env,
            ),
            tmp_path / f"gateway-{len(started)}.log",
        )
        started.append(svc)
        return Line(bus, idp, started_gateway(svc), svc, Codec())

    yield start
    for svc in started:
        svc.stop()


def test_a_tip_reaches_the_cases_officer_and_unit_and_only_that_unit_sees_it(
    start_line: Callable[..., Line],
) -> None:
    line = start_line()
    case = line.alert()
    resp = line.tip(case, latitude=29.98, longitude=104.15)
    assert resp.status_code == 202, resp.text
    tip_id = resp.json()["tip_id"]
    (tip,) = line.published()
    assert isinstance(tip, TipReceived)
    assert (tip.case_id, tip.tip_id) == (case, tip_id)
    assert (tip.officer, tip.agency_id) == (OFFICER, "POL-0001")  # the one-chief rule
    assert tip.actor is not None and tip.actor.principal == "anonymous-public"
    # The unit sees it; another unit sees nothing and gets 404 on its id.
    mine = httpx.get(f"{line.url}/v1/tips", headers=line.police(), timeout=30)
    assert mine.status_code == 200, mine.text
    assert [t["tip_id"] for t in mine.json()["tips"]] == [tip_id]
    theirs = httpx.get(f"{line.url}/v1/tips", headers=line.police(OTHER_STATION), timeout=30)
    assert theirs.json() == {"tips": []}
    probe = httpx.get(f"{line.url}/v1/tips/{tip_id}", headers=line.police(OTHER_STATION))
    assert probe.status_code == 404 and probe.json()["errors"][0]["field"] == "tip_id"
    forged = httpx.post(f"{line.url}/v1/tips/{tip_id}/ack", headers=line.police(OTHER_STATION))
    assert forged.status_code == 404
    # The unit acknowledges it as a valid lead.
    ack = httpx.post(
        f"{line.url}/v1/tips/{tip_id}/ack",
        json={"verdict": "valid", "code": "LEAD_CONFIRMED"},
        headers=line.police(),
        timeout=30,
    )
    assert ack.status_code == 202, ack.text
    events = line.published()
    assert [type(e) for e in events] == [TipReceived, TipAcknowledged]
    assert events[1].actor.agency_id == "POL-0001" and events[1].verdict.value == "valid"
    # A case kept from the public takes no tips: 404 naming case_id, nothing published.
    hidden = line.tip(line.alert(public=False))
    assert hidden.status_code == 404 and hidden.json()["errors"][0]["field"] == "case_id"
    assert len(line.published()) == 2
    # Anonymous callers get nothing of the police side.
    assert httpx.get(f"{line.url}/v1/tips").status_code == 401


def test_a_flood_gets_429s_publishes_only_the_allowance_and_the_line_stays_up(
    start_line: Callable[..., Line],
) -> None:
    line = start_line(
        HOMEWARD_GATEWAY_TIPS_PER_CLIENT="5/minute", HOMEWARD_GATEWAY_TIPS_GLOBAL_LIMIT="600/minute"
    )
    case = line.alert()
    body = {
        "case_id": case,
        "seen_at": (utcnow() - timedelta(minutes=5)).isoformat(),
        "place": "Mockford coach station (fictional)",
        "description": "Flood test tip.",
    }
    started = time.monotonic()
    with httpx.Client(base_url=line.url, timeout=30) as client:
        # Eight at a time: the limiter is shared by the server's threads.
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(lambda _: client.post("/public/v1/tips", json=body), range(300))
            )
        codes = [r.status_code for r in answers]
        retry_after = {r.headers["retry-after"] for r in answers if r.status_code == 429}
        elapsed = time.monotonic() - started
        assert codes.count(202) == 5 and codes.count(429) == 295, sorted(set(codes))
        assert all(1 <= int(s) <= 60 for s in retry_after)
        # Still up and answering: its probes, and the police side.
        assert client.get("/livez").status_code == 200
        assert client.get("/v1/tips", headers=line.police()).status_code == 200
    assert line.proc.running
    published = line.published()
    assert len(published) == 5 and {type(e) for e in published} == {TipReceived}
    print(f"flood: 300 requests in {elapsed:.2f}s ({300 / elapsed:.0f}/s), 5 accepted")


def test_oversized_and_malformed_tips_get_4xx_and_publish_nothing(
    start_line: Callable[..., Line],
) -> None:
    line = start_line(HOMEWARD_GATEWAY_TIPS_PER_CLIENT="100/minute")  # many refusals to count
    case = line.alert()
    url = f"{line.url}/public/v1/tips"
    json_type = {"content-type": "application/json"}

    def answer(resp: httpx.Response, status: int, field: str | None) -> None:
        assert resp.status_code == status, resp.text
        assert resp.json()["errors"][0]["field"] == field

    answer(line.tip(case, description="x" * 5000), 413, "body")  # the tip line's cap
    answer(httpx.post(url, content=b"{" + b" " * 40000 + b"}", headers=json_type), 413, "body")
    answer(httpx.post(url, content=b'{"case_id": "', headers=json_type), 400, "body")
    answer(httpx.post(url, content=b'"just a string"', headers=json_type), 400, "body")
    assert (
        httpx.post(url, content=b"case_id=x", headers={"content-type": "text/plain"}).status_code
        == 415
    )
    answer(line.tip(case, description="seen near \u202egate 3"), 422, "description")
    answer(line.tip(case, place="one\x00two"), 422, "place")
    answer(line.tip(case, seen_at=(utcnow() + timedelta(hours=2)).isoformat()), 422, "seen_at")
    answer(line.tip(case, seen_at=(utcnow() - timedelta(days=1)).isoformat()), 422, "seen_at")
    answer(line.tip(f"POL-0001-NOPE-{uuid.uuid4().hex[:6]}"), 404, "case_id")
    assert line.published() == []


def test_an_unacknowledged_tip_is_overdue_to_its_unit_and_the_coordination_office(
    start_line: Callable[..., Line], bus: Bus, tmp_path: Path
) -> None:
    router = service(
        ["-m", "homeward_referrals"],
        bus.env(
            "referrals",
            HOMEWARD_REFERRALS_DIRECTORY=str(DIRECTORY),
            HOMEWARD_REFERRALS_TIP_ACK_WITHIN="PT30M",
            F_DATADIR=str(tmp_path / "faust-data"),
        ),
        tmp_path / "referrals.log",
    ).start("REFERRALS_READY")
    reader = TopicReader(
        bus.settings,
        [
            bus.topic("inbox.police"),
            bus.topic("inbox.coordination_office"),
            bus.topic("dead_letters"),
        ],
    )
    try:
        line = start_line()
        late_case, acked_case = line.alert(), line.alert()
        late = line.tip(late_case).json()["tip_id"]
        acked = line.tip(acked_case).json()["tip_id"]
        ack = httpx.post(f"{line.url}/v1/tips/{acked}/ack", headers=line.police(), timeout=30)
        assert ack.status_code == 202, ack.text
        # The router has handled both tips (and the ack) before the clock moves on.
        p = producer(bus.settings)
        codec = Codec()
        for case in (late_case, acked_case):
            token = f"barrier-{uuid.uuid4().hex}".encode()
            p.send(bus.topic("police_tips"), key=case.encode(), value=token).get(30)
            reader.until(
                lambda r, t=token: any(v == t for _, _, v, _ in r.records), 90, "tips barrier"
            )
            tick, _ = codec.encode(
                ClockTick(case_id=case, now=utcnow() + timedelta(hours=1)),
                key=case,
                source="/test/clock",
            )
            send_all(p, [(bus.topic("referral_ticks"), tick)])

        def overdue(topic_id: str) -> list[TipOverdue]:
            topic = bus.topic(topic_id)
            return [
                d.event for t, d in reader.decoded if t == topic and isinstance(d.event, TipOverdue)
            ]

        reader.until(
            lambda _: overdue("inbox.police") and overdue("inbox.coordination_office"),
            90,
            "the overdue tip",
        )
        (to_unit,) = overdue("inbox.police")
        assert (to_unit.tip_id, to_unit.agency_id, to_unit.officer_id) == (
            late,
            "POL-0001",
            OFFICER.officer_id,
        )
        (to_office,) = overdue("inbox.coordination_office")
        assert to_office.tip_id == late
        unit_keys = [k for t, k, _, _ in reader.records if t == bus.topic("inbox.police")]
        assert b"POL-0001" in unit_keys
        # No tipster contact, no description in what the office receives.
        office_bytes = b"".join(
            v or b"" for t, _, v, _ in reader.records if t == bus.topic("inbox.coordination_office")
        )
        assert b"+86" not in office_bytes and b"red coat" not in office_bytes
        # The acknowledged tip stays quiet: its tick raised nothing after it.
        token = f"barrier-{uuid.uuid4().hex}".encode()
        p.send(bus.topic("referral_ticks"), key=acked_case.encode(), value=token).get(30)
        reader.until(lambda r: any(v == token for _, _, v, _ in r.records), 90, "tick barrier")
        assert [o.tip_id for o in overdue("inbox.police")] == [late]
        p.close()
        assert router.running
    finally:
        reader.close()
        router.stop()
