"""The public part of an alert (homeward_fanout.public): what media and online
platforms may publish, and which view of an alert event each role gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeward.agencies import AgencyType
from homeward.events import (
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    Classification,
    Event,
    Location,
    PublicNotice,
    RadiusExpanded,
    ResponsibleOfficer,
    SightingReported,
)
from homeward.projections import Projections, default_projections
from homeward_fanout.public import AREA_DECIMALS, PublicPart, Ring, RoleViews, public_notice
from tests.conformance.strategies import for_model

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
SECRET = "POLICE-ONLY-CANARY"
PUBLIC_ROLES = [AgencyType.MEDIA, AgencyType.CYBERSPACE]


def alert() -> AlertIssued:
    return AlertIssued(
        case_id="CASE-PUB-1",
        issuing_unit="Sampleville Police Unit",
        chief_officer=ResponsibleOfficer(
            officer_id=f"OFF-{SECRET}", name=f"Chief {SECRET}", unit=SECRET, phone="000-SECRET"
        ),
        child=ChildDescription(
            name="Test Child 7",
            sex="female",
            age_years=7,
            height_cm=120,
            clothing="Red coat",
            distinguishing_marks=f"Scar {SECRET}",
            photo_ref="photo://test-child-7",
        ),
        last_seen=Location(
            latitude=12.345678,
            longitude=98.765432,
            description="Fictional Bus Station",
            admin_code="999999",
        ),
        last_seen_at=T0,
        target_types=["media", "police"],
        public_summary="Test Child 7, 7, red coat, last seen at Fictional Bus Station",
        details=f"Left with an adult; {SECRET}",
    )


def expected(status: str, summary: str, photo: str = "photo://test-child-7") -> PublicNotice:
    return PublicNotice(
        case_id="CASE-PUB-1",
        status=status,  # type: ignore[arg-type]
        summary=summary,
        child_name="Test Child 7",
        sex="female",
        age_years=7,
        height_cm=120,
        clothing="Red coat",
        photo_ref=photo,
        last_seen_area="Fictional Bus Station",
        last_seen_at=T0,
        contact="Sampleville Police Unit",
    )


def test_an_issued_alert_gives_an_active_notice_of_its_public_part_only() -> None:
    a = alert()
    notice = public_notice(a, a)
    assert notice == expected("active", a.public_summary)
    assert notice is not None and notice.data_classification() is Classification.PUBLIC
    text = notice.model_dump_json()
    for hidden in (SECRET, "12.345678", "98.765432", "999999", "000-SECRET"):
        assert hidden not in text


def test_an_update_with_a_public_summary_gives_an_updated_notice() -> None:
    update = AlertUpdated(
        case_id="CASE-PUB-1",
        new_information=f"Internal: {SECRET}",
        photo_ref="photo://newer",
        public_summary="Now thought to wear a blue hat",
    )
    notice = public_notice(alert(), update)
    assert notice == expected("updated", "Now thought to wear a blue hat", "photo://newer")
    assert SECRET not in notice.model_dump_json()


def test_an_update_without_a_public_summary_tells_the_public_nothing() -> None:
    update = AlertUpdated(
        case_id="CASE-PUB-1", new_information="Internal lead", photo_ref="photo://x"
    )
    assert public_notice(alert(), update) is None


def test_sightings_tell_the_public_nothing_a_widening_the_wider_ring() -> None:
    sighting = SightingReported(
        case_id="CASE-PUB-1",
        sighting_id="S-1",
        location=Location(latitude=1.0, longitude=2.0, description="Fictional Market"),
        seen_at=T0,
        reporter_kind="public",
        description="Seen near the market",
    )
    widened = RadiusExpanded(
        case_id="CASE-PUB-1", previous_radius_km=100, radius_km=200, hours_since_last_seen=1.5
    )
    assert public_notice(alert(), sighting) is None
    ring = Ring(200, T0)
    notice = public_notice(alert(), widened, ring=ring)
    assert notice is not None and notice.status == "widened"
    assert (notice.radius_km, notice.as_of) == (200, T0)
    # The centre as the public sees it: rounded, never the exact last-seen point.
    where = alert().last_seen
    assert notice.area_latitude == round(where.latitude, AREA_DECIMALS)
    assert notice.area_longitude == round(where.longitude, AREA_DECIMALS)


def test_a_drill_has_no_public_part() -> None:
    drill = alert().model_copy(update={"exercise": True})
    cancel = AlertCancelled(case_id="CASE-PUB-1", reason=CancelReason.FOUND)
    for event in (
        drill,
        cancel,
        AlertUpdated(case_id="C", new_information="x", public_summary="y"),
    ):
        assert public_notice(drill, event, ring=Ring(100, T0)) is None


def test_a_cancellation_closes_the_notice_with_the_latest_public_part() -> None:
    cancel = AlertCancelled(case_id="CASE-PUB-1", reason=CancelReason.FOUND, note=SECRET)
    assert public_notice(alert(), cancel) == expected("closed", alert().public_summary)
    part = PublicPart("Updated summary", "photo://newer")
    closed = public_notice(alert(), cancel, part)
    assert closed == expected("closed", "Updated summary", "photo://newer")
    assert SECRET not in closed.model_dump_json()


def test_a_later_update_without_a_photo_keeps_the_last_public_photo() -> None:
    part = PublicPart().after(
        AlertUpdated(case_id="C", new_information="x", photo_ref="p://1", public_summary="one")
    )
    part = part.after(AlertUpdated(case_id="C", new_information="y", public_summary="two"))
    assert part == PublicPart("two", "p://1")
    # An update that is not public changes nothing.
    assert part.after(AlertUpdated(case_id="C", new_information="z", photo_ref="p://2")) == part


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    a=for_model(AlertIssued),
    officer=for_model(ResponsibleOfficer),
    where=for_model(Location),
    marks=st.text(max_size=20),
    details=st.text(max_size=20),
    targets=st.lists(st.sampled_from(list(AgencyType)), max_size=3),
)
def test_the_notice_depends_on_no_non_public_field(
    a: AlertIssued,
    officer: ResponsibleOfficer,
    where: Location,
    marks: str,
    details: str,
    targets: list[AgencyType],
) -> None:
    # Change everything that is not public: the notice stays the same.
    # A drill, or an alert with no public summary, has no public part (tests above).
    a = a.model_copy(
        update={"exercise": False, "public_summary": a.public_summary.strip() or "public"}
    )
    other = a.model_copy(
        update={
            "chief_officer": officer,
            "last_seen": where.model_copy(update={"description": a.last_seen.description}),
            "child": a.child.model_copy(update={"distinguishing_marks": marks}),
            "details": details,
            "target_types": targets,
        }
    )
    assert public_notice(other, other) == public_notice(a, a)
    notice = public_notice(a, a)
    assert notice is not None
    assert notice.summary == a.public_summary and notice.contact == a.issuing_unit
    assert notice.last_seen_area == a.last_seen.description


def _events() -> list[Event]:
    return [
        alert(),
        AlertUpdated(case_id="CASE-PUB-1", new_information="x"),
        AlertUpdated(case_id="CASE-PUB-1", new_information="x", public_summary="y"),
        SightingReported(
            case_id="CASE-PUB-1",
            sighting_id="S-1",
            location=Location(latitude=1.0, longitude=2.0, description="Fictional Market"),
            seen_at=T0,
            reporter_kind="agency",
            description="seen",
        ),
        AlertCancelled(case_id="CASE-PUB-1", reason=CancelReason.FOUND),
    ]


@pytest.mark.parametrize("role", list(AgencyType))
@pytest.mark.parametrize("index", range(len(_events())))
def test_every_role_gets_only_the_kinds_its_projection_lists(role: AgencyType, index: int) -> None:
    event = _events()[index]
    projections = default_projections()
    seen = RoleViews(alert(), event, PublicPart(), projections).for_role(role.value)
    kinds = projections.allowed("AlertDelivery.event", role.value)
    if seen is not None:
        assert seen.avro_name.rpartition(".")[2] in kinds
    if role in PUBLIC_ROLES:
        assert kinds == {"PublicNotice"}
        assert seen is None or isinstance(seen, PublicNotice)
    else:
        assert seen is event  # every other role gets the alert events themselves


def test_a_role_listed_for_nothing_gets_nothing(tmp_path: Path) -> None:
    path = tmp_path / "projections.yaml"
    path.write_text("AlertDelivery.event:\n  default: [AlertIssued]\n  media: []\n")
    projections = Projections.load(path)
    a = alert()
    assert RoleViews(a, a, PublicPart(), projections).for_role("media") is None
    assert RoleViews(a, a, PublicPart(), projections).for_role("police") is a
    update = AlertUpdated(case_id="CASE-PUB-1", new_information="x", public_summary="y")
    assert RoleViews(a, update, PublicPart(), projections).for_role("police") is None


def test_an_alert_with_no_public_summary_tells_the_public_nothing_until_one_is_released() -> None:
    # Intake's answer to a caller without alert.release_public: "send it empty
    # to reach agencies only". Nothing of such an alert may reach a public channel.
    quiet = alert().model_copy(update={"public_summary": ""})
    for event in (
        quiet,
        RadiusExpanded(
            case_id="CASE-PUB-1", previous_radius_km=100, radius_km=200, hours_since_last_seen=1.5
        ),
        AlertCancelled(case_id="CASE-PUB-1", reason=CancelReason.FOUND),
        AlertUpdated(case_id="CASE-PUB-1", new_information="more for police only"),
    ):
        assert public_notice(quiet, event) is None, type(event).__name__
    release = AlertUpdated(
        case_id="CASE-PUB-1", new_information="x", public_summary="Test Child 7, released"
    )
    got = public_notice(quiet, release)
    assert got is not None and got.status == "updated" and got.summary == "Test Child 7, released"
    part = PublicPart().after(release)
    closed = public_notice(
        quiet, AlertCancelled(case_id="CASE-PUB-1", reason=CancelReason.FOUND), part
    )
    assert closed is not None and closed.status == "closed"
