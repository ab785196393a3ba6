"""Per-role projections (homeward.projections, topology/projections.yaml):
each role gets exactly the fields its row lists, an unlisted role nothing,
police everything, and a row naming a field that does not exist is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from homeward.agencies import AgencyType
from homeward.errors import ConfigError
from homeward.events import (
    EVENT_TYPES,
    DnaSample,
    HouseholdRegistration,
    Location,
    RescuedPerson,
    RescueNotified,
    ResponsibleOfficer,
    VictimProfile,
)
from homeward.projections import Projections, default_projections, projections_file
from tests.conformance.strategies import for_model

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
CANARY = "DNA-CANARY-UNIT-0001"
NOTE = "POLICE-NOTE-CANARY"
ALL_VICTIM_FIELDS = frozenset(VictimProfile.model_fields)


def raw() -> dict[str, Any]:
    doc = yaml.safe_load(projections_file().read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def rows() -> list[tuple[str, str]]:
    return [(event, role) for event, roles in raw().items() for role in roles]


def rescue() -> RescueNotified:
    """A rescue with every field of the person filled (no None, no empty list)."""
    return RescueNotified(
        case_id="CASE-PRJ-1",
        rescue_id="RSC-1",
        rescuing_unit="Sampleville County Police",
        officer=ResponsibleOfficer(
            officer_id="OFF-1", name="Officer Example", unit="Sampleville Station 3"
        ),
        person=RescuedPerson(
            name="Test Child 7",
            sex="female",
            age_years=9,
            guardians_known=False,
            identity_known=False,
            disabilities=["hearing"],
            household_registration=HouseholdRegistration.NON_LOCAL,
            has_means=False,
            languages=["zh"],
        ),
        rescued_at=T0,
        location=Location(latitude=30.0, longitude=104.0, description="Fictional Bus Station"),
        closes_alert=True,
        dna=DnaSample(
            sample_id=CANARY, collected_at=T0, laboratory="Fictional Lab", profile=CANARY
        ),
        notes=NOTE,
    )


def filled(profile: VictimProfile) -> set[str]:
    return {k for k, v in profile.model_dump().items() if v is not None}


# -- the table as written ----------------------------------------------------------
@pytest.mark.parametrize(("event", "role"), rows(), ids=lambda x: str(x))
def test_every_listed_role_gets_exactly_its_row(event: str, role: str) -> None:
    listed = raw()[event][role]
    if listed == "*":
        model = (
            VictimProfile if event == "VictimProfile" else EVENT_TYPES[f"homeward.alerts.{event}"]
        )
        want = frozenset(model.model_fields)
    else:
        want = frozenset(listed)
    assert default_projections().allowed(event, role) == want


@pytest.mark.parametrize("role", sorted(raw()["VictimProfile"]))
def test_each_role_gets_a_victim_profile_with_exactly_its_fields(role: str) -> None:
    profile = default_projections().victim_profile(rescue(), role)
    assert filled(profile) == default_projections().allowed("VictimProfile", role)


def test_police_get_every_field() -> None:
    projections = default_projections()
    assert projections.allowed("VictimProfile", "police") == ALL_VICTIM_FIELDS
    assert filled(projections.victim_profile(rescue(), "police")) == ALL_VICTIM_FIELDS
    assert projections.allowed("AlertDelivery.event", "police") == {
        "AlertIssued",
        "AlertUpdated",
        "SightingReported",
        "AlertCancelled",
    }


def unlisted() -> list[tuple[str, str]]:
    """(event, role) for every agency role an event's row does not list, where
    the row has no default."""
    return [
        (event, role.value)
        for event, roles in raw().items()
        if "default" not in roles
        for role in AgencyType
        if role.value not in roles
    ]


@pytest.mark.parametrize(("event", "role"), unlisted(), ids=lambda x: str(x))
def test_an_unlisted_role_gets_nothing(event: str, role: str) -> None:
    projections = default_projections()
    assert projections.allowed(event, role) == frozenset()
    if event == "VictimProfile":
        assert filled(projections.victim_profile(rescue(), role)) == set()


def test_unlisted_roles_are_the_ones_that_need_no_victim_data() -> None:
    roles = {role for event, role in unlisted() if event == "VictimProfile"}
    assert {"media", "cyberspace", "transport", "coordination_office"} <= roles
    assert default_projections().allowed("NoSuchEvent", "police") == frozenset()


def test_media_and_online_platforms_get_only_the_public_notice() -> None:
    projections = default_projections()
    for role in ("media", "cyberspace"):
        assert projections.allowed("AlertDelivery.event", role) == {"PublicNotice"}
        assert projections.allowed("VictimProfile", role) == frozenset()
    # Every other role falls back to the default row: the alert events themselves.
    assert "PublicNotice" not in projections.allowed("AlertDelivery.event", "transport")


def test_no_profile_carries_dna_or_police_notes() -> None:
    assert not {"dna", "notes", "sample_id", "profile"} & ALL_VICTIM_FIELDS
    for role in [*AgencyType, "police"]:
        text = default_projections().victim_profile(rescue(), role).model_dump_json()
        assert CANARY not in text and NOTE not in text


def test_the_full_profile_mirrors_the_rescue() -> None:
    r = rescue()
    profile = default_projections().victim_profile(r, "police")
    assert profile.name == r.person.name and profile.age_years == r.person.age_years
    assert profile.is_child is True
    assert profile.location == r.location and profile.police_contact == r.officer
    assert profile.rescued_at == r.rescued_at


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(r=for_model(RescueNotified))
def test_any_rescue_projects_to_at_most_the_roles_fields(r: RescueNotified) -> None:
    projections = default_projections()
    for role in AgencyType:
        profile = projections.victim_profile(r, role.value)
        assert filled(profile) <= projections.allowed("VictimProfile", role.value)


# -- a table that is wrong -----------------------------------------------------------
def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "projections.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def test_an_unknown_field_is_a_config_error_naming_the_row(tmp_path: Path) -> None:
    doc = raw()
    doc["VictimProfile"]["health"] = [*doc["VictimProfile"]["health"], "dna"]
    with pytest.raises(ConfigError) as caught:
        Projections.load(write(tmp_path, doc))
    assert caught.value.field == "VictimProfile.health"
    assert "dna" in caught.value.reason


def test_an_unknown_field_in_an_event_row_is_refused(tmp_path: Path) -> None:
    doc = raw()
    doc["PublicNotice"]["media"] = ["summary", "details"]
    with pytest.raises(ConfigError) as caught:
        Projections.load(write(tmp_path, doc))
    assert caught.value.field == "PublicNotice.media"
    assert "details" in caught.value.reason


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "projections.yaml"
    path.write_text("VictimProfile: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Projections.load(path)
    assert caught.value.field == str(path)
    with pytest.raises(ConfigError):
        Projections.load(tmp_path / "missing.yaml")


def test_a_narrower_table_narrows_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, {"VictimProfile": {"health": ["age_years", "sex"]}})
    projections = Projections.load(path)
    assert filled(projections.victim_profile(rescue(), "health")) == {"age_years", "sex"}
    assert filled(projections.victim_profile(rescue(), "police")) == set()


def test_a_misspelt_event_kind_is_refused(tmp_path: Path) -> None:
    # A misspelt kind would silently reach no one.
    doc = raw()
    doc["AlertDelivery.event"]["media"] = ["PublicNotise"]
    with pytest.raises(ConfigError) as caught:
        Projections.load(write(tmp_path, doc))
    assert caught.value.field == "AlertDelivery.event.media"
    assert "PublicNotise" in caught.value.reason
