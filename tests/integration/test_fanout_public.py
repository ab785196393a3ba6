"""Public channels on the real broker: a media agency and an online platform in
range receive only PublicNotices (the public part of the alert), travelling
as `public`, with their acknowledgements tracked like everyone else's."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeward.actors import agency_actor
from homeward.agencies import AgencyType
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
    ResponsibleOfficer,
    SightingReported,
)
from homeward.events.base import utcnow
from homeward.kafka import producer, send_all
from tests.fixtures.bus import Bus
from tests.integration.support import TopicReader
from tests.integration.test_fanout import deliveries, fanout, inboxes, make_alert, publish
from tests.unit.fanout.geo import CENTRE, agency_at

pytestmark = pytest.mark.integration
SECRET = "NOT-FOR-THE-PUBLIC"


def detailed_alert(case_id: str) -> AlertIssued:
    """An alert whose non-public fields carry a marker that must never reach the public."""
    return make_alert(case_id, 0.2).model_copy(
        update={
            "chief_officer": ResponsibleOfficer(
                officer_id="OFF-SECRET", name=f"Chief {SECRET}", unit=SECRET, phone="000-0000"
            ),
            "child": ChildDescription(
                name="Test Child B",
                sex="male",
                age_years=5,
                height_cm=105,
                clothing="Green jumper",
                distinguishing_marks=f"Mark {SECRET}",
                photo_ref="photo://test-child-b",
            ),
            "last_seen": Location(
                latitude=CENTRE[0],
                longitude=CENTRE[1],
                description="Fictional Bus Station",
                admin_code="999999",
            ),
            "details": f"Police detail {SECRET}",
            "public_summary": "Test Child B, 5, green jumper",
        }
    )


def test_a_media_agency_in_range_receives_only_public_notices(bus: Bus, tmp_path: Path) -> None:
    agencies = [
        agency_at(1, 10, type_=AgencyType.POLICE),
        agency_at(2, 15, type_=AgencyType.MEDIA),
        agency_at(3, 20, type_=AgencyType.CYBERSPACE),
        agency_at(4, 30, type_=AgencyType.COORDINATION_OFFICE),
    ]
    svc = fanout(
        bus,
        tmp_path,
        agencies,
        # Long enough for the acks below to land first, even on a busy machine.
        HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="4",
        HOMEWARD_FANOUT_MAX_RESENDS="1",
    ).start("FANOUT_READY")
    media_inbox = bus.topology.inbox(AgencyType.MEDIA).name
    online_inbox = bus.topology.inbox(AgencyType.CYBERSPACE).name
    reader = TopicReader(bus.settings, inboxes(bus))
    p = producer(bus.settings)
    try:
        case = "CASE-PUB-1"
        (alert_id,) = publish(bus, detailed_alert(case))
        reader.until(lambda r: len(deliveries(r, alert_id)) >= 4, 60, "first deliveries")
        # Everyone but the online platform acknowledges: its notice is chased.
        codec = Codec()
        for d in deliveries(reader, alert_id):
            if d.agency_type != AgencyType.CYBERSPACE:
                ack = AgencyAcknowledgement(
                    case_id=case,
                    delivery_id=d.delivery_id,
                    agency_id=d.agency_id,
                    actor=agency_actor(d.agency_id, d.agency_type),
                )
                rec, _ = codec.encode(ack, key=case, source=f"/agency/{d.agency_id}")
                send_all(p, [(bus.topic("alert_acks"), rec)])

        def escalated(r: TopicReader) -> list[DeliveryEscalated]:
            return [d.event for _, d in r.decoded if isinstance(d.event, DeliveryEscalated)]

        reader.until(lambda r: escalated(r), 60, "the online platform's escalation")
        (esc,) = escalated(reader)
        assert (esc.agency_id, esc.agency_type, esc.attempts) == ("TST-00003", "cyberspace", 2)
        online = [d for d in deliveries(reader, alert_id) if d.agency_id == "TST-00003"]
        assert [d.attempt for d in online] == [1, 2]
        assert len({d.delivery_id for d in online}) == 1  # the resend keeps the id
        # The acknowledged media agency was never chased.
        media_first = [d for d in deliveries(reader, alert_id) if d.agency_id == "TST-00002"]
        assert [d.attempt for d in media_first] == [1]

        quiet, loud, sighting, cancel = publish(
            bus,
            AlertUpdated(case_id=case, new_information=f"Internal lead {SECRET}"),
            AlertUpdated(
                case_id=case,
                new_information=f"Internal {SECRET}",
                public_summary="Test Child B may be wearing a blue cap",
            ),
            SightingReported(
                case_id=case,
                sighting_id="S-1",
                location=Location(latitude=30.01, longitude=104.01, description="Fictional Lane"),
                seen_at=utcnow(),
                reporter_kind="public",
                description=f"Seen {SECRET}",
            ),
            AlertCancelled(case_id=case, reason=CancelReason.FOUND, note=f"Found {SECRET}"),
        )
        reader.until(
            lambda r: {d.agency_id for d in deliveries(r, cancel)} >= {a.id for a in agencies},
            60,
            "the cancellation everywhere",
        )
        police = {d.source_event_id for d in deliveries(reader) if d.agency_id == "TST-00001"}
        assert {alert_id, quiet, loud, sighting, cancel} <= police

        for inbox, agency_id in ((media_inbox, "TST-00002"), (online_inbox, "TST-00003")):
            raw = [rec for rec in reader.records if rec[0] == inbox]
            got = [d.event for t, d in reader.decoded if t == inbox]
            assert len(raw) == len(got) and got
            assert all(isinstance(d, AlertDelivery) for d in got)
            assert all(d.agency_id == agency_id for d in got)  # type: ignore[union-attr]
            notices = [d.event for d in got]  # type: ignore[union-attr]
            assert all(isinstance(n, PublicNotice) for n in notices)
            by_source = {d.source_event_id: d.event for d in got}  # type: ignore[union-attr]
            # Nothing for the internal update or the sighting.
            assert set(by_source) == {alert_id, loud, cancel}
            assert by_source[alert_id].status == "active"
            assert by_source[loud].status == "updated"
            assert by_source[loud].summary == "Test Child B may be wearing a blue cap"
            assert by_source[cancel].status == "closed"
            first = by_source[alert_id]
            assert isinstance(first, PublicNotice)
            assert (first.child_name, first.age_years, first.clothing, first.photo_ref) == (
                "Test Child B",
                5,
                "Green jumper",
                "photo://test-child-b",
            )
            assert first.last_seen_area == "Fictional Bus Station"
            assert first.contact == "Sampleville Police Unit"
            for _, key, value, headers in raw:
                assert key == agency_id.encode()
                assert dict(headers)["ce_classification"] == b"public"
                assert value is not None and SECRET.encode() not in value
                assert b"999999" not in value and b"OFF-SECRET" not in value
    finally:
        p.close()
        reader.close()
        svc.stop()
