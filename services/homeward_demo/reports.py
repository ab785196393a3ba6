"""Mandatory reports in the demo: a teacher and a hotel clerk report what they
saw straight to police. The police desk (the SDK's ReportDesk) takes up the
teacher's report; nobody acknowledges the hotel's, so after the demo's short
acknowledgement time the coordination office is told. Every name and place
is plainly fake."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from homeward.events import Location, PersonAtRisk, Reporter, Sector
from homeward.events.base import utcnow
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.reports import ReportDesk

REPORT_ACK_WITHIN = "PT6S"  # the demo's; an hour by default
ACKNOWLEDGED_SECTOR = Sector.EDUCATION
POLICE_DESK = ("POL-0001", "Sampleville County Police Bureau (fictional)")


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
