"""The agency gateway on the real SCRAM broker with real Keycloak tokens: the
gateway is its own process under its own principal (`gateway`), callers are
the demo realm's agency systems (client credentials) and staff (password
login), and the fan-out and the referral router are the real workers.

Records the gateway reads are published straight to the inbox topics (as the
fan-out and router write them) where a test is about the gateway alone."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeward.agencies import Agency, AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertDelivery,
    DeliveryEscalated,
    ReferralAnswered,
    ReportAcknowledged,
)
from homeward.events.base import Event, utcnow
from homeward.kafka import producer, send_all
from tests.fixtures.bus import Bus
from tests.fixtures.gateway import GatewayProcess
from tests.integration.support import TopicReader, service
from tests.unit.agency import samples as s
from tests.unit.gateway import samples as g
from tests.unit.referrals import world

pytestmark = pytest.mark.integration

CIV_A, CIV_B = "CIV-0001", "CIV-0002"
SYSTEM_A, SYSTEM_B = "agency-system-civ-0001", "agency-system-civ-0002"
STAFF_A = "staff-civ-0001"


def publish(
    bus: Bus,
    topic_id: str,
    events: list[tuple[Event, str]],
    *,
    as_principal: str | None = None,
    source: str = "urn:test:writer",
) -> list[str]:
    """Put events on a topic as their writer would (key = the given key), under
    the writer's own Kafka principal when `as_principal` is given."""
    codec = Codec()
    p = producer(bus.settings_for(as_principal) if as_principal else bus.settings)
    ids = []
    try:
        records = []
        for event, key in events:
            rec, meta = codec.encode(event, key=key, source=source)
            records.append((bus.topic(topic_id), rec))
            ids.append(meta.id)
        send_all(p, records)
    finally:
        p.close()
    return ids


def civil_alert(
    delivery_id: str, agency: str = CIV_A, case_id: str = "CASE-GW-1"
) -> tuple[Event, str]:
    """An alert delivery to a civil-affairs agency, keyed to it (as the fan-out writes it)."""
    delivery = s.delivery(agency, delivery_id, agency_type="civil_affairs", event=s.issued(case_id))
    return delivery.model_copy(update={"accepted_at": utcnow()}), agency


def ids_of(items: list[dict[str, Any]]) -> list[str]:
    return [i["delivery_id"] for i in items]


def test_each_agency_sees_only_its_own_inbox_and_callers_are_checked(
    bus: Bus, start_gateway: Callable[..., GatewayProcess]
) -> None:
    referral = s.referral(CIV_A, "REF-GW-1", agency_type="civil_affairs")
    publish(
        bus,
        "inbox.civil_affairs",
        [civil_alert("D-A1"), civil_alert("D-B1", CIV_B), (referral, CIV_A), civil_alert("D-A2")],
    )
    publish(bus, "reports", [(s.report("RPT-GW-1"), "RPT-GW-1")])
    # A health-record anomaly, as the detector raises it, under its own principal.
    publish(
        bus,
        "anomalies",
        [(g.anomaly("ANOM-GW-1", hospital_id="HOSP-DEMO-1"), "ANOM-GW-1")],
        as_principal="detector",
        source="/homeward/detector",
    )
    # Bytes no one can read, between two good deliveries: counted and skipped.
    p = producer(bus.settings)
    try:
        p.send(bus.topic("inbox.civil_affairs"), key=CIV_A.encode(), value=b"\xc3\x01junk").get(30)
    finally:
        p.close()
    publish(bus, "inbox.civil_affairs", [civil_alert("D-A3")])
    gw = start_gateway()
    a = gw.auth(SYSTEM_A)
    # Ready means every inbox was read to its end: no waiting for the past.
    assert ids_of(gw.inbox(a)) == ["D-A3", "D-A2", "REF-GW-1", "D-A1"]
    assert ids_of(gw.inbox(gw.staff(STAFF_A))) == ["D-A3", "D-A2", "REF-GW-1", "D-A1"]
    metrics = httpx.get(f"{gw.url}/metrics").text
    skipped = [
        ln
        for ln in metrics.splitlines()
        if ln.startswith("homeward_gateway_records_skipped_total{")
    ]
    assert skipped and float(skipped[0].split()[-1]) == 1.0
    assert ids_of(gw.inbox(gw.auth(SYSTEM_B))) == ["D-B1"]
    # B's delivery, asked for by A: the same 404 as an id that does not exist.
    theirs, unknown = gw.get("/v1/inbox/D-B1", a), gw.get("/v1/inbox/D-NONE", a)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    assert gw.get("/v1/inbox/D-B1", gw.auth(SYSTEM_B)).status_code == 200
    # Anonymous, a forged token, and a role that receives nothing.
    assert httpx.get(f"{gw.url}/v1/inbox").status_code == 401
    forged = {"Authorization": "Bearer " + a["Authorization"].split()[1][:-4] + "AAAA"}
    assert gw.get("/v1/inbox", forged).status_code == 401
    hospital = gw.auth("hospital-system-hosp-demo-1")
    assert gw.get("/v1/inbox", hospital).status_code == 403
    assert gw.post("/v1/inbox/D-A1/ack", hospital).status_code == 403
    assert gw.get("/v1/reports", a).status_code == 403  # the report desk is police's
    # Police's report desk: the report, acknowledged once, with the caller as actor.
    police = gw.auth("police-case-system")
    (report,) = gw.get("/v1/reports", police).json()
    assert report["report_id"] == "RPT-GW-1" and report["acknowledged"] is None
    first = gw.post("/v1/reports/RPT-GW-1/ack", police, json={"police_unit": "Test Unit 1"})
    assert first.status_code == 200 and first.json()["repeated"] is False, first.text
    assert gw.post("/v1/reports/RPT-GW-1/ack", police).json()["repeated"] is True
    # The detector's anomaly, read from police.anomalies.v1 by the gateway: police only.
    (anomaly,) = gw.get("/v1/anomalies", police).json()
    assert (anomaly["anomaly_id"], anomaly["hospital_id"]) == ("ANOM-GW-1", "HOSP-DEMO-1")
    assert anomaly["rule"] == "certificate_without_delivery"
    assert anomaly["evidence"] == ["evt-certificate-test-1", "evt-admission-test-1"]
    one = gw.get("/v1/anomalies/ANOM-GW-1", police)
    assert one.status_code == 200 and one.json()["summary"] == anomaly["summary"]
    assert gw.get("/v1/anomalies/ANOM-NONE", police).status_code == 404
    for refused in (a, hospital):
        assert gw.get("/v1/anomalies", refused).status_code == 403
        assert gw.get("/v1/anomalies/ANOM-GW-1", refused).status_code == 403
    reader = TopicReader(bus.settings, [bus.topic("reports")])
    try:
        reader.until(
            lambda r: any(isinstance(d.event, ReportAcknowledged) for _, d in r.decoded),
            30,
            "the report acknowledgement",
        )
        acks = [d.event for _, d in reader.decoded if isinstance(d.event, ReportAcknowledged)]
        assert len(acks) == 1
        assert acks[0].actor is not None
        assert (acks[0].agency_id, acks[0].actor.agency_id) == ("POL-0001", "POL-0001")
    finally:
        reader.close()


def test_the_live_stream_resumes_after_a_reconnect_without_losing_a_delivery(
    bus: Bus, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gw = start_gateway(HOMEWARD_GATEWAY_HEARTBEAT_SECONDS="1")
    a = gw.staff(STAFF_A)
    stream = gw.stream(a)
    assert stream.status == 200
    publish(bus, "inbox.civil_affairs", [civil_alert("D-B1", CIV_B), civil_alert("D-A1")])
    first = stream.next()
    assert (first.event, first.data["delivery_id"]) == ("delivery", "D-A1")
    assert first.id == str(first.data["cursor"])
    stream.close()  # the client goes away ...
    publish(bus, "inbox.civil_affairs", [civil_alert("D-A2"), civil_alert("D-B2", CIV_B)])
    publish(bus, "inbox.civil_affairs", [civil_alert("D-A3")])
    # ... and comes back, saying what it saw last: everything after it, in order, once.
    again = gw.stream({**a, "Last-Event-ID": first.id or ""})
    got = again.take(2)
    assert [e.data["delivery_id"] for e in got] == ["D-A2", "D-A3"]
    assert int(got[0].id or 0) > int(first.id or 0)
    publish(bus, "inbox.civil_affairs", [civil_alert("D-A4")])
    assert again.next().data["delivery_id"] == "D-A4"
    # The id is the record's place on the bus, not this process's count: another
    # replica (or this one restarted) resumes the same stream from it.
    other = start_gateway()
    resumed = other.stream({**a, "Last-Event-ID": first.id or ""})
    replayed = resumed.take(3)
    assert [e.data["delivery_id"] for e in replayed] == ["D-A2", "D-A3", "D-A4"]
    assert [e.id for e in replayed[:2]] == [e.id for e in got]
    # A quiet stream still says it is alive (a heartbeat a second here).
    quiet = gw.stream(a)
    quiet.until_heartbeat(10)
    assert quiet.events.empty()
    unauthenticated = httpx.get(f"{gw.url}/v1/inbox/stream", timeout=10)
    assert unauthenticated.status_code == 401


# -- with the real fan-out ------------------------------------------------------------
def near(aid: str, type_: AgencyType, km: float) -> Agency:
    return world.agency_at(aid, type_, km)


def test_an_http_ack_stops_the_resend_and_a_silent_agency_is_escalated_as_with_the_sdk(
    bus: Bus, tmp_path: Path, start_gateway: Callable[..., GatewayProcess]
) -> None:
    from tests.integration.test_fanout import fanout, make_alert
    from tests.integration.test_fanout import publish as publish_alerts

    agencies = [
        near(CIV_A, AgencyType.CIVIL_AFFAIRS, 10),  # acknowledges through the gateway
        near("EDU-0001", AgencyType.EDUCATION, 20),  # never acknowledges
        near("COO-0001", AgencyType.COORDINATION_OFFICE, 30),
    ]
    gw = start_gateway()
    svc = fanout(
        bus,
        tmp_path,
        agencies,
        HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="5",
        HOMEWARD_FANOUT_MAX_RESENDS="1",
    ).start("FANOUT_READY")
    reader = TopicReader(bus.settings, [bus.topology.inbox(t).name for t in AgencyType])
    try:
        staff = gw.staff(STAFF_A)
        stream = gw.stream(staff)
        office = gw.auth("agency-system-coo-0001")
        office_stream = gw.stream(office)
        case = f"CASE-GW-ACK-{uuid.uuid4().hex[:6]}"
        publish_alerts(bus, make_alert(case, 0.2))
        arrived = stream.next(60)
        assert arrived.data["case_id"] == case and arrived.data["kind"] == "alert"
        ack = gw.post(f"/v1/inbox/{arrived.data['delivery_id']}/ack", staff)
        assert ack.status_code == 200 and ack.json()["repeated"] is False, ack.text
        # The office is in range too: its system acknowledges its own copy.
        own = office_stream.next(60)
        assert own.data["kind"] == "alert"
        office_ack = gw.post(f"/v1/inbox/{own.data['delivery_id']}/ack", office)
        assert office_ack.status_code == 200, office_ack.text
        # The silent school's delivery is resent once, then escalated to the office.
        esc = office_stream.next(60)
        assert esc.data["kind"] == "escalation"
        assert esc.data["event"]["agency_id"] == "EDU-0001"

        def delivered(r: TopicReader) -> list[AlertDelivery]:
            return [d.event for _, d in r.decoded if isinstance(d.event, AlertDelivery)]

        reader.until(
            lambda r: any(isinstance(d.event, DeliveryEscalated) for _, d in r.decoded),
            60,
            "the escalation on the topic",
        )
        by_agency = {
            a.id: [d.attempt for d in delivered(reader) if d.agency_id == a.id] for a in agencies
        }
        assert by_agency[CIV_A] == [1]  # acknowledged over HTTP: never resent
        assert by_agency["EDU-0001"] == [1, 2]  # silent: resent once, then escalated
        escalated = [d.event for _, d in reader.decoded if isinstance(d.event, DeliveryEscalated)]
        assert [e.agency_id for e in escalated] == ["EDU-0001"]
        shown = gw.get(f"/v1/inbox/{arrived.data['delivery_id']}", staff).json()
        assert shown["acknowledged"]["by"] == STAFF_A
        # The acknowledgement is the SDK's record, with the person as actor.
        acks = TopicReader(bus.settings, [bus.topic("alert_acks")])
        try:
            acks.until(lambda r: bool(r.decoded), 30, "the acknowledgement")
            acks.until(lambda r: len(r.decoded) >= 2, 30, "both acknowledgements")
            by = {
                d.event.agency_id: d.event.actor
                for _, d in acks.decoded
                if isinstance(d.event, AgencyAcknowledgement)
            }
            assert set(by) == {CIV_A, "COO-0001"}
            assert by[CIV_A] is not None and by[CIV_A].principal == STAFF_A
            assert by[CIV_A].kind == "person"
            assert by["COO-0001"] is not None and by["COO-0001"].kind == "system"
        finally:
            acks.close()
    finally:
        reader.close()
        svc.stop()


# -- with the real referral router --------------------------------------------------------
def test_a_referral_rejected_over_http_is_re_offered_by_the_router(
    bus: Bus, tmp_path: Path, start_gateway: Callable[..., GatewayProcess]
) -> None:
    # The router's test world, with its two nearest justice agencies named as
    # demo agencies of the realm, so their systems and staff hold real tokens.
    renamed = {"JUS-1": "JUS-0001", "JUS-2": "JUS-0002"}
    directory = [
        a.model_copy(update={"id": renamed[a.id]}) if a.id in renamed else a
        for a in world.agencies()
    ]
    dump_directory(directory, tmp_path / "agencies.csv")
    env = bus.env(
        "referrals",
        HOMEWARD_REFERRALS_DIRECTORY=str(tmp_path / "agencies.csv"),
        HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS="0.5",
        F_DATADIR=str(tmp_path / "faust-data"),
    )
    router = service(["-m", "homeward_referrals"], env, tmp_path / "referrals.log")
    router.start("REFERRALS_READY")
    gw = start_gateway()
    try:
        first_agency = gw.staff("staff-jus-0001")
        second_agency = gw.auth("agency-system-jus-0002")
        case = f"CASE-GW-REF-{uuid.uuid4().hex[:6]}"
        publish(bus, "rescues", [(world.rescue(case), case)])

        def legal_aid(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                i
                for i in items
                if i["kind"] == "referral"
                and i["case_id"] == case
                and i["event"]["rule_id"] == "legal_aid"
            ]

        (offered,) = legal_aid(gw.until(first_agency, lambda xs: bool(legal_aid(xs)), 90, "offer"))
        assert offered["referral"]["status"] == "requested"
        referral_id = offered["referral"]["referral_id"]
        answer = gw.post(
            f"/v1/referrals/{referral_id}/answer",
            first_agency,
            json={"status": "rejected", "reason_code": "no_capacity", "note": "full (test)"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["topic"] == bus.topic("referral_answers")
        # Rejected is final for this agency: a second answer is refused before publishing.
        again = gw.post(
            f"/v1/referrals/{referral_id}/answer", first_agency, json={"status": "accepted"}
        )
        assert again.status_code == 409 and again.json()["state"] == "rejected"
        (reoffer,) = legal_aid(
            gw.until(second_agency, lambda xs: bool(legal_aid(xs)), 90, "the re-offer")
        )
        assert reoffer["referral"]["referral_id"] == referral_id
        assert reoffer["referral"]["offer"] == 2
        # The first agency's view: rejected (its answer, confirmed by the router).
        mine = gw.get(f"/v1/inbox/{referral_id}", first_agency).json()
        assert mine["referral"]["status"] == "rejected"
        reader = TopicReader(bus.settings, [bus.topic("referral_answers")])
        try:
            reader.until(lambda r: bool(r.decoded), 30, "the answer")
            answers = [d.event for _, d in reader.decoded if isinstance(d.event, ReferralAnswered)]
            assert len(answers) == 1 and answers[0].actor is not None
            assert (answers[0].agency_id, answers[0].actor.principal) == (
                "JUS-0001",
                "staff-jus-0001",
            )
        finally:
            reader.close()
    finally:
        router.stop()
