"""What a decision is made of and what it yields: the router's fixed inputs
(rules, directory, reach), the records to produce, and the new state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from homeward.agencies import Agency, AgencyType
from homeward.events import Classification, Event
from homeward.projections import Projections, default_projections
from homeward_referrals.reach import nearest
from homeward_referrals.rules import RuleSet
from homeward_referrals.state import CaseState, ReportState, TipsState

LOG = "referral_events"
ALERTS = "alert_events"


class Agencies(Protocol):
    """The directory as the planner needs it (homeward.agencies.Directory)."""

    def __iter__(self) -> Iterator[Agency]: ...

    def get(self, agency_id: str) -> Agency | None: ...


@dataclass(frozen=True)
class Router:
    """Everything a decision depends on besides the state and the input."""

    rules: RuleSet
    agencies: Agencies
    max_km: float = 200.0
    report_ack: timedelta = timedelta(hours=1)
    tip_ack: timedelta = timedelta(minutes=30)
    projections: Projections = field(default_factory=default_projections)


@dataclass(frozen=True)
class Outbound:
    """One record to produce. `topic` is a topology id (an inbox: `inbox.<type>`)."""

    event: Event
    key: str
    topic: str
    event_id: str
    causation_id: str | None
    time: datetime
    classification: Classification | None = None  # None: the event's own


@dataclass
class Outcome:
    state: CaseState | ReportState | TipsState | None
    out: list[Outbound] = field(default_factory=list)
    note: str = ""


def inbox(agency_type: AgencyType | str) -> str:
    return f"inbox.{AgencyType(agency_type).value}"


def to_office(
    event: Event,
    lat: float,
    lon: float,
    eid: str,
    cause: str | None,
    at: datetime,
    router: Router,
) -> list[Outbound]:
    """To the coordination office nearest to where it happened (one office answers
    for it, not every office in range), and to the log."""
    office = nearest(router.agencies, lat, lon, agency_type=AgencyType.COORDINATION_OFFICE)
    out = [Outbound(event, event.case_id, LOG, eid, cause, at)]
    if office is not None:
        out.insert(0, Outbound(event, office.id, inbox(office.type), eid, cause, at))
    return out
