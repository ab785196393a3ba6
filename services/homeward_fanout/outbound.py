"""What the fan-out's decisions are made of: its fixed inputs (Policy), the
records to produce (Outbound, each delivery built when first asked for) and
the outcome, and the deterministic ids of what it sends. planner.py decides."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, partial

from homeward.actors import service_actor
from homeward.agencies import Agency, AgencyType, Directory
from homeward.events import Actor, AlertDelivery, AlertIssued, Event
from homeward.geo import haversine_km
from homeward.projections import Projections, default_projections
from homeward_fanout.rules import RadiusSchedule
from homeward_fanout.state import CaseState

NAMESPACE = uuid.UUID("5b0c8a52-3d1e-4c61-9a7e-2f6f3b8f9d10")


def delivery_id(source_event_id: str, agency_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source_event_id}/{agency_id}"))


def expansion_event_id(case_id: str, radius_km: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{case_id}/radius/{radius_km}"))


@dataclass(frozen=True)
class Policy:
    schedule: RadiusSchedule = field(default_factory=RadiusSchedule)
    ack_timeout_ms: int = 10 * 60 * 1000
    max_resends: int = 1
    # >1 compresses the clock for demos: one real second counts as `speed` seconds
    # of time since the child was last seen. Always 1 in production.
    clock_speed: float = 1.0
    # Which alert event kinds each agency role may receive.
    projections: Projections = field(default_factory=default_projections, repr=False)
    # The actor of what the fan-out decides itself (homeward.actors).
    actor: Actor = field(default_factory=lambda: service_actor("fanout"), repr=False)


@dataclass
class Outbound:
    """One record to produce: to an agency type's inbox, or back on the alert stream.

    The event is built when first asked for: a widening to thousands of
    agencies is decided at once, but built, encoded and sent in chunks
    (processor.py), so the broker writes the first while the last are built."""

    build: Callable[[], Event]
    key: str
    inbox: AgencyType | None  # None: the alert events topic
    event_id: str
    causation_id: str | None

    @classmethod
    def of(
        cls, event: Event, key: str, inbox: AgencyType | None, event_id: str, cause: str | None
    ) -> Outbound:
        return cls(lambda: event, key, inbox, event_id, cause)

    @cached_property
    def event(self) -> Event:
        return self.build()


@dataclass
class Outcome:
    state: CaseState | None
    out: list[Outbound] = field(default_factory=list)
    note: str = ""
    # False when the state is as it was: nothing to store.
    changed: bool = True


def directory_of(agencies: Sequence[Agency]) -> Directory:
    return agencies if isinstance(agencies, Directory) else Directory(list(agencies))


def _delivery(
    case_id: str,
    did: str,
    agency_id: str,
    agency_type: str,
    attempt: int,
    ring_km: int,
    distance_km: float,
    accepted_at: datetime,
    source_event_id: str,
    event: Event,
    actor: Actor | None,
    exercise: bool,
) -> AlertDelivery:
    return AlertDelivery(
        case_id=case_id,
        delivery_id=did,
        agency_id=agency_id,
        agency_type=agency_type,
        attempt=attempt,
        ring_km=ring_km,
        distance_km=round(distance_km, 3),
        accepted_at=accepted_at,
        source_event_id=source_event_id,
        event=event,  # type: ignore[arg-type]
        actor=actor,  # the fan-out's; the inner event keeps who caused it
        exercise=exercise,
    )


def deliver(
    state: CaseState,
    agency: Agency,
    ring_km: int,
    distance_km: float,
    event: Event,
    source_event_id: str,
    accepted_at: datetime,
    attempt: int = 1,
    actor: Actor | None = None,
) -> Outbound:
    did = delivery_id(source_event_id, agency.id)
    build = partial(
        _delivery,
        state.case_id,
        did,
        agency.id,
        agency.type.value,
        attempt,
        ring_km,
        distance_km,
        accepted_at,
        source_event_id,
        event,
        actor,
        # Read now: a cancellation clears the state's alert before the build.
        bool(state.alert.get("exercise", False)),
    )
    return Outbound(build, agency.id, agency.type, did, source_event_id)


def distance_km(alert: AlertIssued, agency: Agency) -> float:
    where = alert.last_seen
    return haversine_km(where.latitude, where.longitude, agency.latitude, agency.longitude)
