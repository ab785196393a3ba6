"""The fan-out decisions, as pure functions of (case state, input, now).

The Faust agent feeds each record of a case here, in order, and carries out
what comes back: deliveries to inboxes, escalations, the RadiusExpanded
audit event, and the new state to store in its table. Nothing here does I/O,
so every rule is unit-tested without a broker.

Each delivery's id is derived from (source event id, agency id), so handling
the same input twice (a redelivery after a worker restart) yields the same
ids, and agencies drop the copy.

A role gets only the event kinds topology/projections.yaml lists for it under
`AlertDelivery.event`: public channels (media, online platforms) get the
alert's public part as a PublicNotice (public.py) instead of the alert, and
nothing for what tells the public nothing (sightings, internal updates).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from homeward.agencies import Agency, AgencyType
from homeward.errors import ValidationError
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    DeliveryEscalated,
    Event,
    RadiusExpanded,
    SightingReported,
)
from homeward.geo import haversine_km
from homeward.projections import Projections, default_projections
from homeward_fanout.public import PublicPart, RoleViews
from homeward_fanout.rules import RadiusSchedule, agencies_in_ring

NAMESPACE = uuid.UUID("5b0c8a52-3d1e-4c61-9a7e-2f6f3b8f9d10")
SEEN_EVENTS_KEPT = 256
MS_PER_HOUR = 3_600_000


def delivery_id(source_event_id: str, agency_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{source_event_id}/{agency_id}"))


def expansion_event_id(case_id: str, radius_km: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{case_id}/radius/{radius_km}"))


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


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


@dataclass
class Pending:
    agency_id: str
    agency_type: str
    ring_km: int
    distance_km: float
    attempts: int
    first_sent_ms: int
    due_ms: int


@dataclass
class CaseState:
    """What the fan-out keeps per case; stored as JSON in a Faust table."""

    case_id: str
    status: str  # active | cancelled
    alert: dict[str, Any]  # the AlertIssued, JSON mode
    alert_event_id: str
    accepted_ms: int
    radius_km: int
    recipients: dict[str, list[Any]] = field(default_factory=dict)  # id -> [type, ring, km]
    pending: dict[str, Pending] = field(default_factory=dict)  # delivery id -> Pending
    seen_events: list[str] = field(default_factory=list)
    public: dict[str, Any] = field(default_factory=dict)  # PublicPart after public updates

    @property
    def issued(self) -> AlertIssued:
        return AlertIssued.model_validate(self.alert)

    @property
    def public_part(self) -> PublicPart:
        return PublicPart(**self.public)

    def hours_since_last_seen(self, now_ms: int, policy: Policy) -> float:
        last_seen_ms = to_ms(datetime.fromisoformat(self.alert["last_seen_at"]))
        before = max(0, self.accepted_ms - last_seen_ms)
        after = max(0, now_ms - self.accepted_ms) * policy.clock_speed
        return (before + after) / MS_PER_HOUR

    def next_wakeup_ms(self, policy: Policy) -> int | None:
        """The earliest time a tick has something to do: a wider ring or an ack due."""
        if self.status != "active":
            return None
        times = [p.due_ms for p in self.pending.values()]
        limit = policy.schedule.growth_hours(self.radius_km)
        if limit is not None:
            last_seen_ms = to_ms(datetime.fromisoformat(self.alert["last_seen_at"]))
            before = max(0, self.accepted_ms - last_seen_ms)
            wait = max(0.0, (limit * MS_PER_HOUR - before) / policy.clock_speed)
            times.append(self.accepted_ms + int(wait) + 1)
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "status": self.status,
            "alert": self.alert,
            "alert_event_id": self.alert_event_id,
            "accepted_ms": self.accepted_ms,
            "radius_km": self.radius_km,
            "recipients": self.recipients,
            "pending": {k: vars(p) for k, p in self.pending.items()},
            "seen_events": self.seen_events,
            "public": self.public,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        pending = {k: Pending(**v) for k, v in data.get("pending", {}).items()}
        return cls(**{**data, "pending": pending})


@dataclass(frozen=True)
class Outbound:
    """One record to produce: to an agency type's inbox, or back on the alert stream."""

    event: Event
    key: str
    inbox: AgencyType | None  # None: the alert events topic
    event_id: str
    causation_id: str | None


@dataclass
class Outcome:
    state: CaseState | None
    out: list[Outbound] = field(default_factory=list)
    note: str = ""


def _deliver(
    state: CaseState,
    agency_id: str,
    agency_type: str,
    ring_km: int,
    distance_km: float,
    event: Event,
    source_event_id: str,
    accepted_ms: int,
    attempt: int = 1,
) -> Outbound:
    did = delivery_id(source_event_id, agency_id)
    delivery = AlertDelivery(
        case_id=state.case_id,
        delivery_id=did,
        agency_id=agency_id,
        agency_type=agency_type,
        attempt=attempt,
        ring_km=ring_km,
        distance_km=round(distance_km, 3),
        accepted_at=from_ms(accepted_ms),
        source_event_id=source_event_id,
        event=event,  # type: ignore[arg-type]
    )
    return Outbound(delivery, agency_id, AgencyType(agency_type), did, source_event_id)


def _widen(
    state: CaseState, radius_km: int, agencies: Sequence[Agency], policy: Policy, now_ms: int
) -> list[Outbound]:
    """Deliver the alert to agencies newly inside radius_km; remember them."""
    alert = state.issued
    views = RoleViews(alert, alert, state.public_part, policy.projections)
    types = frozenset(alert.target_types) or None
    ring = agencies_in_ring(
        agencies, alert.last_seen.latitude, alert.last_seen.longitude, -1.0, radius_km, types
    )
    out = []
    for hit in ring:
        a = hit.agency
        if a.id in state.recipients:
            continue
        event = views.for_role(a.type.value)
        if event is None:
            continue  # a role that may receive nothing of an alert
        state.recipients[a.id] = [a.type.value, radius_km, round(hit.distance_km, 3)]
        o = _deliver(
            state,
            a.id,
            a.type.value,
            radius_km,
            hit.distance_km,
            event,
            state.alert_event_id,
            state.accepted_ms,
        )
        state.pending[o.event_id] = Pending(
            a.id,
            a.type.value,
            radius_km,
            hit.distance_km,
            1,
            now_ms,
            now_ms + policy.ack_timeout_ms,
        )
        out.append(o)
    state.radius_km = max(state.radius_km, radius_km)
    return out


def _remember(state: CaseState, event_id: str) -> None:
    state.seen_events.append(event_id)
    del state.seen_events[:-SEEN_EVENTS_KEPT]


def handle_event(
    state: CaseState | None,
    event: Event,
    *,
    event_id: str,
    accepted_ms: int,
    now_ms: int,
    agencies: Sequence[Agency],
    policy: Policy,
) -> Outcome:
    """One decoded record of the alert or acknowledgement streams."""
    if state is not None and event_id in state.seen_events:
        return Outcome(state, note="duplicate event: already handled")
    if isinstance(event, AlertIssued):
        if state is not None:
            raise ValidationError("an alert was already issued for this case", field="case_id")
        state = CaseState(
            case_id=event.case_id,
            status="active",
            alert=event.model_dump(mode="json"),
            alert_event_id=event_id,
            accepted_ms=accepted_ms,
            radius_km=0,
        )
        hours = state.hours_since_last_seen(accepted_ms, policy)
        out = _widen(state, policy.schedule.radius_km(hours), agencies, policy, now_ms)
        _remember(state, event_id)
        return Outcome(state, out)
    if state is None:
        raise ValidationError("no alert has been issued for this case", field="case_id")
    if isinstance(event, AgencyAcknowledgement):
        pending = state.pending.get(event.delivery_id)
        if pending is not None and pending.agency_id != event.agency_id:
            raise ValidationError(
                f"delivery {event.delivery_id} went to another agency", field="agency_id"
            )
        # Not remembered in seen_events: acks are idempotent, and a case's many
        # acks would push the event ids that de-duplication needs out of the list.
        state.pending.pop(event.delivery_id, None)
        return Outcome(state)
    if state.status != "active":
        _remember(state, event_id)
        return Outcome(state, note=f"case is {state.status}: nothing to deliver")
    if isinstance(event, RadiusExpanded):
        out = _widen(state, event.radius_km, agencies, policy, now_ms)
        _remember(state, event_id)
        return Outcome(state, out)
    if isinstance(event, AlertUpdated | SightingReported | AlertCancelled):
        views = RoleViews(state.issued, event, state.public_part, policy.projections)
        out = []
        for aid, info in state.recipients.items():
            seen = views.for_role(info[0])
            if seen is not None:
                out.append(
                    _deliver(state, aid, info[0], info[1], info[2], seen, event_id, accepted_ms)
                )
        if isinstance(event, AlertUpdated) and event.public_summary is not None:
            part = state.public_part.after(event)
            state.public = {"summary": part.summary, "photo_ref": part.photo_ref}
        if isinstance(event, AlertCancelled):
            # Keep what de-duplication needs and nothing about the child: the
            # state lives on in the changelog.
            state.status = "cancelled"
            state.pending.clear()
            state.recipients.clear()
            state.alert = {}
            state.public = {}
        _remember(state, event_id)
        return Outcome(state, out)
    raise ValidationError(f"{event.avro_name} is not handled by the fan-out", field="ce_type")


def _office_in_charge(alert: AlertIssued, offices: Sequence[Agency]) -> Agency | None:
    """The joint-conference office nearest to where the child was last seen:
    one office answers for an escalation, not every office in range."""
    where = alert.last_seen
    return min(
        offices,
        key=lambda o: (
            haversine_km(where.latitude, where.longitude, o.latitude, o.longitude),
            o.id,
        ),
        default=None,
    )


def handle_tick(
    state: CaseState | None,
    *,
    now_ms: int,
    agencies: Sequence[Agency],
    policy: Policy,
    coordination_offices: Sequence[Agency],
) -> Outcome:
    """Time passed: widen the radius if due; resend or escalate unacknowledged deliveries."""
    if state is None or state.status != "active":
        return Outcome(state)
    out: list[Outbound] = []
    target = policy.schedule.radius_km(state.hours_since_last_seen(now_ms, policy))
    if target > state.radius_km:
        previous = state.radius_km
        hours = state.hours_since_last_seen(now_ms, policy)
        out.extend(_widen(state, target, agencies, policy, now_ms))
        eid = expansion_event_id(state.case_id, target)
        expanded = RadiusExpanded(
            case_id=state.case_id,
            previous_radius_km=previous,
            radius_km=target,
            hours_since_last_seen=round(hours, 4),
        )
        # The widening is recorded on the alert stream for the audit trail; when
        # it comes back to this agent it is already in seen_events and does nothing.
        _remember(state, eid)
        out.append(Outbound(expanded, state.case_id, None, eid, state.alert_event_id))
    alert = state.issued
    views = RoleViews(alert, alert, state.public_part, policy.projections)
    for did, p in sorted(state.pending.items()):
        if p.due_ms > now_ms:
            continue
        resend = views.for_role(p.agency_type)
        if resend is None:
            del state.pending[did]  # the role may no longer receive it: nothing to chase
            continue
        if p.attempts <= policy.max_resends:
            p.attempts += 1
            p.due_ms = now_ms + policy.ack_timeout_ms
            out.append(
                _deliver(
                    state,
                    p.agency_id,
                    p.agency_type,
                    p.ring_km,
                    p.distance_km,
                    resend,
                    state.alert_event_id,
                    state.accepted_ms,
                    p.attempts,
                )
            )
            continue
        del state.pending[did]
        escalation = DeliveryEscalated(
            case_id=state.case_id,
            delivery_id=did,
            agency_id=p.agency_id,
            agency_type=p.agency_type,
            attempts=p.attempts,
            first_sent_at=from_ms(p.first_sent_ms),
        )
        office = _office_in_charge(alert, coordination_offices)
        if office is not None:
            eid = str(uuid.uuid5(NAMESPACE, f"{did}/escalated/{office.id}"))
            out.append(Outbound(escalation, office.id, AgencyType.COORDINATION_OFFICE, eid, did))
    return Outcome(state, out)
