"""Police's health-record anomalies over the gateway: police_only.read sees every
one, newest first; a hospital, a school or the coordination office is refused;
an unknown id is 404; every read is on the audit record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeward.audit import AuditOutcome
from homeward.codec import Codec
from homeward_gateway.follower import InboxFollower
from homeward_gateway.store import InboxStore
from tests.unit.gateway.conftest import CIVIL_SYSTEM, HOSPITAL, POLICE, World
from tests.unit.gateway.samples import anomaly, record

T0 = datetime(2030, 1, 2, 7, 0, tzinfo=UTC)

SCHOOL = {
    "agency_id": "EDU-A",
    "agency_type": "education",
    "roles": ["agency_caseworker", "mandatory_reporter"],
    "azp": "homeward-console",
    "preferred_username": "staff-edu-a",
}
COORDINATION = {
    "agency_id": "CO-A",
    "agency_type": "coordination_office",
    "roles": ["coordination_officer", "agency_caseworker"],
    "azp": "homeward-console",
    "preferred_username": "staff-co-a",
}
FORENSICS = {
    "agency_id": "PS-LAB",
    "agency_type": "police",
    "roles": ["police_forensics"],
    "azp": "homeward-console",
    "preferred_username": "staff-ps-lab",
}


def held(world: World, *ids: str) -> None:
    for i, anomaly_id in enumerate(ids):
        event = anomaly(anomaly_id, hospital_id=f"HOSP-TEST-{i}")
        world.store.add_anomaly(event, f"ev-{anomaly_id}", T0 + timedelta(minutes=i))


def test_police_see_every_anomaly_newest_first_and_each_read_is_audited(world: World) -> None:
    held(world, "ANOM-1", "ANOM-2", "ANOM-3")
    listed = world.client.get("/v1/anomalies", headers=world.auth(POLICE))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [a["anomaly_id"] for a in body] == ["ANOM-3", "ANOM-2", "ANOM-1"]
    assert body[0]["rule"] == "certificate_without_delivery"
    assert body[0]["hospital_id"] == "HOSP-TEST-2"
    assert body[0]["evidence"] == ["evt-certificate-test-1", "evt-admission-test-1"]
    assert "CERT-TEST-1" in body[0]["summary"]
    limited = world.client.get("/v1/anomalies?limit=1", headers=world.auth(FORENSICS))
    assert [a["anomaly_id"] for a in limited.json()] == ["ANOM-3"]
    one = world.client.get("/v1/anomalies/ANOM-2", headers=world.auth(POLICE))
    assert one.status_code == 200 and one.json()["severity"] == "critical"
    reads = [e for e in world.auditor.entries if e.outcome is AuditOutcome.READ]
    assert [(e.action, e.principal, e.case_id) for e in reads] == [
        ("police_only.read", "agency-system-ps-a", ""),
        ("police_only.read", "staff-ps-lab", ""),
        ("police_only.read", "agency-system-ps-a", "ANOM-2"),
    ]
    assert reads[0].detail["count"] == "3"


def test_an_unknown_anomaly_is_404_and_a_bad_limit_422(world: World) -> None:
    held(world, "ANOM-1")
    missing = world.client.get("/v1/anomalies/ANOM-NOPE", headers=world.auth(POLICE))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["field"] == "anomaly_id"
    bad = world.client.get("/v1/anomalies?limit=0", headers=world.auth(POLICE))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"


def test_a_hospital_a_school_and_the_coordination_office_are_refused(world: World) -> None:
    held(world, "ANOM-1")
    for claims in (HOSPITAL, SCHOOL, COORDINATION, CIVIL_SYSTEM):
        for path in ("/v1/anomalies", "/v1/anomalies/ANOM-1", "/v1/anomalies/ANOM-NOPE"):
            resp = world.client.get(path, headers=world.auth(claims))
            # 403 before the lookup: an id is not probed by the refused.
            assert resp.status_code == 403, (claims["agency_id"], path, resp.text)
            assert resp.json()["error"] == "insufficient_scope"
    assert world.client.get("/v1/anomalies").status_code == 401
    assert not [e for e in world.auditor.entries if e.outcome is AuditOutcome.READ]
    refusals = [e for e in world.auditor.entries if e.outcome is AuditOutcome.REFUSED]
    assert len(refusals) == 13 and all(e.action == "police_only.read" for e in refusals[:12])


def test_the_store_drops_a_copy_and_keeps_only_the_newest_beyond_its_bound() -> None:
    store = InboxStore()
    store.max_anomalies = 3
    for i in range(5):
        event = anomaly(f"ANOM-{i}")
        store.add_anomaly(event, f"ev-{i}", T0)
        store.add_anomaly(event, f"ev-copy-{i}", T0)  # the same id again: a copy
    assert [a.anomaly_id for a in store.anomalies()] == ["ANOM-4", "ANOM-3", "ANOM-2"]
    assert store.anomaly("ANOM-0") is None
    held_two = store.anomaly("ANOM-2")
    assert held_two is not None and held_two.event_id == "ev-2"


def test_the_follower_keeps_an_anomaly_read_from_the_topic(world: World) -> None:
    follower = object.__new__(InboxFollower)  # apply() only: no broker in a unit test
    follower.store = world.store
    follower.codec = Codec()
    follower.inboxes = {}
    follower.skipped = 0
    follower.apply(record(anomaly("ANOM-BUS-1"), "ANOM-BUS-1", "police.anomalies.v1"))
    assert follower.skipped == 0
    entry = world.store.anomaly("ANOM-BUS-1")
    assert entry is not None and entry.anomaly.hospital_id == "HOSP-TEST-1"
