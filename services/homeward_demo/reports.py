"""Mandatory reports in the demo: a teacher and a hotel clerk report what they
saw straight to police, each logged in as a person: the staff member of the
nearest education (the teacher) or culture-and-tourism (the hotel clerk) agency
of the directory, a mandatory reporter in the roles table. The police desk (the SDK's ReportDesk) takes up the
teacher's report; nobody acknowledges the hotel's, so after the demo's short
acknowledgement time the coordination office is told. Every name and place
is plainly fake."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from homeward.agencies import Agency, AgencyType
from homeward.events import Location, PersonAtRisk, Reporter, Sector
from homeward.events.base import utcnow
from homeward.geo import haversine_km
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.reports import ReportDesk
from homeward_intake.client import IntakeClient

REPORT_ACK_WITHIN = "PT6S"  # the demo's; an hour by default
ACKNOWLEDGED_SECTOR = Sector.EDUCATION
POLICE_DESK = ("POL-0001", "Sampleville County Police Bureau (fictional)")
#: Whose staff file a sector's reports: schools answer to education, hotels to culture
#: and tourism (both mandatory reporters in topology/roles.yaml).
REPORTER_AGENCY_TYPE = {
    Sector.EDUCATION: AgencyType.EDUCATION,
    Sector.HOTEL: AgencyType.CULTURE_TOURISM,
}


def reports() -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "report_id": "RPT-DEMO-0001",
            "sector": Sector.EDUCATION,
            "reporter": Reporter(
                name="Teacher Example Wang",
                organisation="Sampleville Primary (fictional)",
                role="teacher",
            ),
            "observed": "A pupil said an unknown adult offered to take her to Demoville.",
            "location": Location(
                latitude=30.05, longitude=104.1, description="Sampleville Primary (fictional)"
            ),
            "observed_at": now,
            "person": PersonAtRisk(
                description="Girl, about 9 (demo)", sex="female", apparent_age_years=9
            ),
        },
        {
            "report_id": "RPT-DEMO-0002",
            "sector": Sector.HOTEL,
            "reporter": Reporter(
                name="Clerk Example Zhao",
                organisation="Testtown Inn (fictional)",
                role="receptionist",
            ),
            "observed": "Two adults checked in with three children who did not speak to them.",
            "location": Location(
                latitude=30.21, longitude=104.33, description="Testtown Inn (fictional)"
            ),
            "observed_at": now,
            "person": PersonAtRisk(description="Three children, 5 to 8 (demo)"),
        },
    ]


def reporter_agency(report: dict[str, object], agencies: Iterable[Agency]) -> Agency:
    """The agency whose staff member files `report`: the nearest of its sector's type to
    where it was observed (ties by id, so every run picks the same)."""
    sector, where = report["sector"], report["location"]
    assert isinstance(sector, Sector) and isinstance(where, Location)
    kind = REPORTER_AGENCY_TYPE.get(sector)
    if kind is None:
        raise ValueError(f"sector: no reporting agency type for {sector.value!r}")
    candidates = [a for a in agencies if a.type == kind]
    if not candidates:
        raise ValueError(f"directory: no {kind.value} agency to file a {sector.value} report")
    return min(
        candidates,
        key=lambda a: (
            haversine_km(where.latitude, where.longitude, a.latitude, a.longitude),
            a.id,
        ),
    )


def reporter_agencies(agencies: Iterable[Agency]) -> dict[Sector, Agency]:
    """Each report's filing agency, by the report's sector."""
    pool = list(agencies)
    found: dict[Sector, Agency] = {}
    for report in reports():
        sector = report["sector"]
        assert isinstance(sector, Sector)
        found[sector] = reporter_agency(report, pool)
    return found


@dataclass(frozen=True)
class Filer:
    """A person who files reports: the agency they work for, and intake under their login."""

    agency: Agency
    client: IntakeClient


@dataclass
class DeskStats:
    acknowledged: dict[str, float] = field(default_factory=dict)  # report id -> seconds to ack


class PoliceDesk:
    """Police reading mandatory reports and taking up those of one sector."""

    def __init__(self, settings: KafkaSettings, topology: Topology, group_id: str) -> None:
        self.desk = ReportDesk(settings, topology=topology, group_id=group_id)
        self.stats = DeskStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-police-desk", daemon=True)

    def start(self) -> PoliceDesk:
        self._thread.start()
        return self

    def _run(self) -> None:
        for filed in self.desk.reports(self._stop, poll_timeout=0.3):
            if filed.report.sector != ACKNOWLEDGED_SECTOR:
                continue
            self.desk.acknowledge(filed, police_unit=POLICE_DESK[1], agency_id=POLICE_DESK[0])
            self.stats.acknowledged[filed.report_id] = time.time() - filed.meta.time.timestamp()

    def stop(self) -> DeskStats:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.desk.close()
        return self.stats
