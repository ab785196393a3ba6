"""The alert fan-out on the real broker: the worker is its own process."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from homeward.agencies import Agency, AgencyType, dump_directory
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    DeliveryEscalated,
    Location,
    PublicNotice,
    RadiusExpanded,
    ResponsibleOfficer,
    SightingReported,
)
from homeward.events.base import utcnow
from homeward.geo import haversine_km
from homeward.kafka import producer, send_all
from homeward.projections import default_projections
from homeward_demo.processes import ServiceProcess
from homeward_fanout.rules import RadiusSchedule
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader, service
from tests.unit.fanout.geo import CENTRE, agency_at

pytestmark = pytest.mark.integration
RINGS = (100, 200, 300, 500)
# Roles that may receive only an alert's public part (topology/projections.yaml).
PUBLIC_ROLES = {
    t.value
    for t in AgencyType
    if default_projections().allowed("AlertDelivery.event", t.value) == {"PublicNotice"}
}


def ring_agencies() -> list[Agency]:
    """Agencies 1 km inside and outside each ring, of rotating types, round the compass."""
    types = list(AgencyType)
    out = []
    for i, (ring, side) in enumerate((r, s) for r in RINGS for s in (-1, 1)):
        for j in range(3):
            n = i * 3 + j
            out.append(agency_at(n, ring + side, bearing=n * 37.0, type_=types[n % len(types)]))
    out.append(agency_at(999, 5, type_=AgencyType.COORDINATION_OFFICE))
    return out


def make_alert(case_id: str, hours_before: float) -> AlertIssued:
    return AlertIssued(
        case_id=case_id,
        issuing_unit="Sampleville Police Unit",
        chief_officer=ResponsibleOfficer(
            officer_id="OFF-1", name="Officer Example", unit="Sampleville Police Unit"
        ),
        child=ChildDescription(name="Test Child A", sex="female", age_years=7),
        last_seen=Location(latitude=CENTRE[0], longitude=CENTRE[1], description="Fictional Park"),
        last_seen_at=utcnow() - timedelta(hours=hours_before),
        public_summary="Test Child A, 7, red coat",
    )


def fanout(bus: Bus, tmp_path: Path, agencies: list[Agency], **env: str) -> ServiceProcess:
    directory = tmp_path / "agencies.csv"
    dump_directory(agencies, directory)
    settings = {
        "HOMEWARD_FANOUT_DIRECTORY": str(directory),
        "HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS": "0.2",
        "HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS": "3600",
        **env,
    }
    return service(
        ["-m", "homeward_fanout"], bus.env("fanout", **settings), tmp_path / "fanout.log"
    )


def publish(bus: Bus, *events) -> list[str]:
    codec = Codec()
    p = producer(bus.settings)
    ids = []
    try:
        records = []
        for e in events:
            rec, meta = codec.encode(e, key=e.case_id, source="/test/police")
            records.append((bus.topic("alert_events"), rec))
            ids.append(meta.id)
        send_all(p, records)
    finally:
        p.close()
    return ids


def inboxes(bus: Bus) -> list[str]:
    return [bus.topology.inbox(t).name for t in AgencyType]


def deliveries(reader: TopicReader, source_event_id: str | None = None) -> list[AlertDelivery]:
    return [
        d.event
        for _, d in reader.decoded
        if isinstance(d.event, AlertDelivery)
        and (source_event_id is None or d.event.source_event_id == source_event_id)
    ]


def test_rings_widen_to_exactly_the_agencies_in_range_then_updates_and_cancel(
    bus: Bus, tmp_path: Path
) -> None:
    agencies = ring_agencies()
    # 3600x: an hour since last seen passes each second, so every ring is reached within seconds.
    svc = fanout(bus, tmp_path, agencies, HOMEWARD_FANOUT_CLOCK_SPEED="3600").start("FANOUT_READY")
    reader = TopicReader(bus.settings, [*inboxes(bus), bus.topic("alert_events")])
    try:
        (alert_id,) = publish(bus, make_alert("CASE-FO-1", 0.5))
        # Everyone but the three agencies 1 km beyond the last ring (501 km).
        in_range = {a.id for a in agencies if haversine_km(*CENTRE, a.latitude, a.longitude) <= 500}
        assert len(in_range) == len(agencies) - 3
        reader.until(
            lambda r: {d.agency_id for d in deliveries(r, alert_id)} >= in_range, 60, "every ring"
        )
        got = deliveries(reader, alert_id)
        assert Counter(d.agency_id for d in got) == Counter(in_range)  # exactly once each
        schedule = RadiusSchedule()
        for d in got:
            # Reached at the first ring that holds it, never earlier.
            assert d.ring_km == min(r for r in RINGS if d.distance_km <= r)
            assert d.agency_type == next(a.type.value for a in agencies if a.id == d.agency_id)
            # Public channels get the alert's public part, everyone else the alert.
            public = d.agency_type in PUBLIC_ROLES
            assert isinstance(d.event, PublicNotice if public else AlertIssued), d.agency_type
        assert PUBLIC_ROLES & {d.agency_type for d in got}, "no public channel was in range"
        expanded = [d.event for _, d in reader.decoded if isinstance(d.event, RadiusExpanded)]
        assert [e.radius_km for e in expanded] == [200, 300, 500]
        assert schedule.radius_km(0.5) == 100
        types = {a.id: a.type.value for a in agencies}
        restricted = {aid for aid in in_range if types[aid] not in PUBLIC_ROLES}

        upd_id, sight_id, cancel_id = publish(
            bus,
            AlertUpdated(case_id="CASE-FO-1", new_information="Now wearing a blue hat"),
            SightingReported(
                case_id="CASE-FO-1",
                sighting_id="S-1",
                location=Location(
                    latitude=30.1, longitude=104.1, description="Testtown bus station"
                ),
                seen_at=utcnow(),
                reporter_kind="public",
                description="Seen boarding a bus",
            ),
            AlertCancelled(case_id="CASE-FO-1", reason=CancelReason.FOUND, note="Found safe"),
        )
        # An update without a public summary and a sighting tell the public
        # nothing; the cancellation closes the public notice.
        expect = {upd_id: restricted, sight_id: restricted, cancel_id: in_range}
        for eid, who in expect.items():
            reader.until(lambda r, e=eid, w=who: {d.agency_id for d in deliveries(r, e)} >= w, 60)
        # The cancellation is handled last, so everything before it is on the broker.
        for eid, who in expect.items():
            assert Counter(d.agency_id for d in deliveries(reader, eid)) == Counter(who)
        for d in deliveries(reader, cancel_id):
            if d.agency_type in PUBLIC_ROLES:
                assert isinstance(d.event, PublicNotice) and d.event.status == "closed"
            else:
                assert isinstance(d.event, AlertCancelled)
    finally:
        reader.close()
        svc.stop()


def test_corrupt_record_goes_to_dead_letters_and_the_worker_goes_on(
    bus: Bus, tmp_path: Path
) -> None:
    svc = fanout(bus, tmp_path, ring_agencies()).start("FANOUT_READY")
    reader = TopicReader(bus.settings, [*inboxes(bus), bus.topic("dead_letters")])
    p = producer(bus.settings)
    try:
        topic = bus.topic("alert_events")
        p.send(topic, key=b"CASE-FO-2", value=b"\xc3\x01garbage", headers=[("ce_id", b"x")]).get(30)
        # A valid alert under a key that is not its case id would put the case's
        # state on the wrong partition.
        wrong, _ = Codec().encode(make_alert("CASE-FO-9", 0.1), key="NOT-THE-CASE", source="/t")
        send_all(p, [(topic, wrong)])
        (alert_id,) = publish(bus, make_alert("CASE-FO-2", 0.1))
        dlq = bus.topic("dead_letters")
        reader.until(lambda r: sum(t == dlq for t, *_ in r.records) >= 2, 60, "dead letters")
        reader.until(lambda r: len(deliveries(r, alert_id)) > 0, 60, "the next alert delivered")
        letters = {dict(rec[3])["dlq_field"]: rec for rec in reader.records if rec[0] == dlq}
        assert set(letters) == {b"headers.ce_specversion", b"key"}
        garbage = letters[b"headers.ce_specversion"]
        headers = dict(garbage[3])
        assert headers["dlq_topic"].decode() == topic
        assert headers["dlq_service"] == b"fanout"
        assert headers["dlq_reason"] == b"required CloudEvents header is missing"
        assert int(headers["dlq_offset"]) >= 0 and int(headers["dlq_partition"]) >= 0
        assert garbage[2] == b"\xc3\x01garbage" and garbage[1] == b"CASE-FO-2"
        misplaced = letters[b"key"]
        assert misplaced[1] == b"NOT-THE-CASE" and misplaced[2] == wrong.value
        assert not deliveries(reader) or all(d.case_id != "CASE-FO-9" for d in deliveries(reader))
    finally:
        p.close()
        reader.close()
        svc.stop()


def test_killed_worker_restarts_without_missing_or_repeating_a_delivery(
    bus: Bus, tmp_path: Path
) -> None:
    # Many agencies in the first ring, so the kill lands while the fan-out is writing.
    agencies = [
        agency_at(i, 1 + (i % 90), bearing=(i * 7.3) % 360, type_=list(AgencyType)[i % 16])
        for i in range(3000)
    ]
    agencies += [agency_at(5000 + i, 150 + i % 40, bearing=i * 11.0) for i in range(500)]
    svc = fanout(bus, tmp_path, agencies, HOMEWARD_FANOUT_CLOCK_SPEED="1").start("FANOUT_READY")
    reader = TopicReader(bus.settings, inboxes(bus))
    try:
        (alert_id,) = publish(bus, make_alert("CASE-FO-3", 0.5))
        reader.until(lambda r: len(r.records) > 0, 60, "the first delivery")
        svc.kill()
        seen_before_restart = len(reader.records)
        svc.start("FANOUT_READY")
        first_ring = {a.id for a in agencies if a.id < "TST-05000"}
        reader.until(
            lambda r: {d.agency_id for d in deliveries(r, alert_id)} >= first_ring, 90, "all"
        )
        got = deliveries(reader, alert_id)
        # Every agency has exactly one delivery id for the alert: a copy written
        # again after the restart carries the same id, and subscribers drop it.
        ids_by_agency: dict[str, set[str]] = {}
        for d in got:
            ids_by_agency.setdefault(d.agency_id, set()).add(d.delivery_id)
        assert set(ids_by_agency) == first_ring
        assert all(len(ids) == 1 for ids in ids_by_agency.values())
        print(
            f"records before kill: {seen_before_restart}, after restart: {len(got)} "
            f"for {len(first_ring)} agencies"
        )
        # The second ring (150..189 km) is not due before an hour: state after the
        # restart must not have widened early.
        assert not any(d.agency_id >= "TST-05000" for d in got)
    finally:
        reader.close()
        svc.stop()


def test_unacknowledged_delivery_is_resent_then_escalated_to_the_coordination_office(
    bus: Bus, tmp_path: Path
) -> None:
    agencies = [
        agency_at(1, 10, type_=AgencyType.POLICE),
        agency_at(2, 20, type_=AgencyType.TRANSPORT),  # never acknowledges
        agency_at(3, 30, type_=AgencyType.COORDINATION_OFFICE),
    ]
    svc = fanout(
        bus,
        tmp_path,
        agencies,
        # Long enough that the acks below always land first, even on a busy machine.
        HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="4",
        HOMEWARD_FANOUT_MAX_RESENDS="1",
    ).start("FANOUT_READY")
    reader = TopicReader(bus.settings, inboxes(bus))
    p = producer(bus.settings)
    codec = Codec()
    try:
        (alert_id,) = publish(bus, make_alert("CASE-FO-4", 0.2))
        reader.until(lambda r: len(deliveries(r, alert_id)) >= 3, 60, "first deliveries")
        for d in deliveries(reader, alert_id):
            if d.agency_id != "TST-00002":
                ack = AgencyAcknowledgement(
                    case_id=d.case_id, delivery_id=d.delivery_id, agency_id=d.agency_id
                )
                rec, _ = codec.encode(ack, key=d.case_id, source=f"/agency/{d.agency_id}")
                send_all(p, [(bus.topic("alert_acks"), rec)])

        def escalated(r: TopicReader) -> list[DeliveryEscalated]:
            return [d.event for _, d in r.decoded if isinstance(d.event, DeliveryEscalated)]

        reader.until(lambda r: escalated(r), 60, "the escalation")
        silent = [d for d in deliveries(reader, alert_id) if d.agency_id == "TST-00002"]
        assert [d.attempt for d in silent] == [1, 2]  # sent, resent once, then escalated
        assert len({d.delivery_id for d in silent}) == 1  # the resend keeps the id
        (esc,) = escalated(reader)
        assert (esc.agency_id, esc.attempts, esc.delivery_id) == (
            "TST-00002",
            2,
            silent[0].delivery_id,
        )
        office_copies = [t for t, d in reader.decoded if isinstance(d.event, DeliveryEscalated)]
        assert office_copies == [bus.topology.inbox(AgencyType.COORDINATION_OFFICE).name]
        # The acknowledged agencies were never resent to.
        assert all(
            d.attempt == 1 for d in deliveries(reader, alert_id) if d.agency_id != "TST-00002"
        )
    finally:
        p.close()
        reader.close()
        svc.stop()
