"""A small synthetic world for the router's tests: agencies at known
distances north and south of a centre, and builders for rescues, answers and
reports. Plainly fake data only."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from homeward.actors import agency_actor
from homeward.agencies import Agency, AgencyType, Directory
from homeward.events import (
    DnaSample,
    HouseholdRegistration,
    Location,
    MandatoryReportFiled,
    PersonAtRisk,
    ReferralAnswered,
    Reporter,
    RescuedPerson,
    RescueNotified,
    ResponsibleOfficer,
    Sector,
    TaskStatus,
)
from homeward_referrals.planner import Router
from homeward_referrals.rules import load_rules

CENTRE = (30.0, 104.0)
# A police desk of POL-1, the only kind of actor whose report acknowledgement counts.
POLICE_DESK = agency_actor("POL-1", "police")
# Far from every agency but one coordination office: nothing is within reach.
REMOTE = (45.0, 125.0)
EARTH_RADIUS_KM = 6371.0088
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
DNA_CANARY = "CANARY-DNA-7f3a9c"
NOTE_CANARY = "CANARY-NOTE-51d2e8"
REPORTER_CANARY = "Canary Reporter Person"

T = AgencyType


def agency_at(
    aid: str, type_: AgencyType, km: float, centre: tuple[float, float] = CENTRE
) -> Agency:
    """An agency `km` due north (negative: south) of `centre`."""
    lat = centre[0] + math.degrees(km / EARTH_RADIUS_KM)
    return Agency(
        id=aid,
        type=type_,
        name_zh=f"测试机构 {aid}",
        name_en=f"Test Agency {aid}",
        latitude=lat,
        longitude=centre[1],
        admin_code="990000",
    )


# Two of each type within reach (200 km) and one beyond it, at distinct distances.
PLACES: dict[AgencyType, tuple[float, float, float]] = {
    T.POLICE: (10, -40, 250),
    T.CIVIL_AFFAIRS: (-15, 30, 260),
    T.HEALTH: (12, -35, 270),
    T.JUSTICE: (20, 50, -280),
    T.EDUCATION: (-25, 45, 290),
    T.DISABLED_FEDERATION: (30, -60, 300),
    T.HR_SOCIAL_SECURITY: (-18, 70, 310),
}
PREFIX = {
    T.POLICE: "POL",
    T.CIVIL_AFFAIRS: "CIV",
    T.HEALTH: "HEA",
    T.JUSTICE: "JUS",
    T.EDUCATION: "EDU",
    T.DISABLED_FEDERATION: "DIS",
    T.HR_SOCIAL_SECURITY: "HRS",
}


def agencies() -> Directory:
    out = [
        agency_at(f"{PREFIX[t]}-{n}", t, km)
        for t, kms in PLACES.items()
        for n, km in enumerate(kms, start=1)
    ]
    out.append(agency_at("OFF-1", T.COORDINATION_OFFICE, 5))
    out.append(agency_at("OFF-2", T.COORDINATION_OFFICE, -120))
    out.append(agency_at("OFF-3", T.COORDINATION_OFFICE, 3, centre=REMOTE))
    return Directory(out)


def ids(agency_type: AgencyType) -> tuple[str, str, str]:
    """(nearest, next nearest, beyond reach) of a type around CENTRE."""
    return (f"{PREFIX[agency_type]}-1", f"{PREFIX[agency_type]}-2", f"{PREFIX[agency_type]}-3")


AGENCIES = agencies()


def router(**kw: Any) -> Router:
    return Router(**{"rules": load_rules(), "agencies": AGENCIES, **kw})


def person(**kw: object) -> RescuedPerson:
    fields: dict[str, object] = {
        "name": "Test Child 7",
        "sex": "female",
        "age_years": 9,
        "guardians_known": False,
        "identity_known": False,
        "household_registration": HouseholdRegistration.NON_LOCAL,
        "languages": ["mandarin"],
    }
    fields.update(kw)
    return RescuedPerson.model_validate(fields)


def rescue(
    case_id: str = "CASE-R-1",
    who: RescuedPerson | None = None,
    *,
    where: tuple[float, float] = CENTRE,
    closes_alert: bool = False,
) -> RescueNotified:
    return RescueNotified(
        case_id=case_id,
        rescue_id="RES-1",
        rescuing_unit="Sampleville Police Unit",
        officer=ResponsibleOfficer(
            officer_id="OFF-9", name="Officer Example", unit="Sampleville Police Unit"
        ),
        person=who or person(),
        rescued_at=T0 - timedelta(minutes=30),
        location=Location(
            latitude=where[0], longitude=where[1], description="Fictional Bus Station"
        ),
        closes_alert=closes_alert,
        dna=DnaSample(
            sample_id="DNA-S-1",
            collected_at=T0 - timedelta(minutes=20),
            laboratory="Fictional Forensics Lab",
            profile=DNA_CANARY,
        ),
        notes=NOTE_CANARY,
    )


def answer(
    referral_id: str,
    agency_id: str,
    status: TaskStatus | str,
    case_id: str = "CASE-R-1",
    **kw: object,
) -> ReferralAnswered:
    return ReferralAnswered.model_validate(
        {
            "case_id": case_id,
            "referral_id": referral_id,
            "agency_id": agency_id,
            "status": status,
            "note": NOTE_CANARY,
            # The agency's own system by default; a test of refusals sets its own.
            "actor": agency_actor(agency_id, ""),
            **kw,
        }
    )


def report(report_id: str = "REP-1") -> MandatoryReportFiled:
    return MandatoryReportFiled(
        case_id=report_id,
        sector=Sector.EDUCATION,
        reporter=Reporter(
            name=REPORTER_CANARY,
            organisation="Fictional Primary School",
            role="Teacher",
            phone="+86 000 0000 0000",
        ),
        observed="A pupil said an adult not of the family took her away",
        location=Location(
            latitude=CENTRE[0],
            longitude=CENTRE[1],
            description="Fictional Primary School",
            admin_code="990101001",
        ),
        observed_at=T0 - timedelta(hours=1),
        person=PersonAtRisk(description="Test Child 8, about ten", sex="female"),
    )
