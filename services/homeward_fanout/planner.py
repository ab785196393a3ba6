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

The alert's lifecycle is homeward.alert_lifecycle's table, checked here from
the case's own state: an update, sighting or cancellation of a closed or
unknown case, or a second AlertIssued, raises AlertTransitionError and the
processor dead-letters the record with the reason; nothing is delivered.

An agency first reached by a widening gets the alert and then, in order,
every update and sighting the case has kept (state.py caps them), each its
own AlertDelivery with the id an agency reached earlier got for it: the wire
is the same as for an agency that was in range all along.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from itertools import islice

from homeward.actors import require_agency
from homeward.agencies import Agency, AgencyType
from homeward.alert_lifecycle import AlertState, AlertStep, next_state
from homeward.errors import ValidationError
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    DeliveryEscalated,
    Event,
    RadiusExpanded,
    SightingReported,
)
from homeward.geo import haversine_km
from homeward_fanout.outbound import (
    NAMESPACE,
    Outbound,
    Outcome,
    Policy,
    deliver,
    delivery_id,
    directory_of,
    distance_km,
    expansion_event_id,
)
from homeward_fanout.public import Ring, RoleViews
from homeward_fanout.rules import agencies_in_ring
from homeward_fanout.state import SIGHTING, UPDATE, CaseState, from_ms, to_ms

__all__ = [
    "NAMESPACE",
    "CaseState",
    "Outbound",
    "Outcome",
    "Policy",
    "delivery_id",
    "directory_of",
    "expansion_event_id",
    "from_ms",
    "to_ms",
]

SEEN_EVENTS_KEPT = 256


def _widen(
    state: CaseState,
    radius_km: int,
    agencies: Sequence[Agency],
    policy: Policy,
    now_ms: int,
    widening: tuple[RadiusExpanded, str] | None = None,
) -> list[Outbound]:
    """Deliver the alert to agencies newly inside radius_km; remember them.

    `widening` (the RadiusExpanded and its event id) when the ring grows on an
    alert already sent: public channels reached before get a "widened" notice
    showing the wider ring, since the public appeal area changed."""
    alert = state.issued
    # The ring's first sending: its deliveries' clock. A widening again to the
    # same radius (agencies added to the directory since) keeps the first.
    state.sent_ms.setdefault(radius_km, now_ms)
    shown = Ring(max(state.radius_km, radius_km), from_ms(state.sent_ms[radius_km]))
    views = RoleViews(alert, alert, state.public_part, policy.projections, shown)
    types = frozenset(alert.target_types) or None
    ring = agencies_in_ring(
        agencies, alert.last_seen.latitude, alert.last_seen.longitude, -1.0, radius_km, types
    )
    due = (1, now_ms + policy.ack_timeout_ms)
    accepted_at = from_ms(state.accepted_ms)
    history = _History(state)
    out = []
    if widening is not None:
        out += _announce(state, widening, shown, agencies, policy)
    for hit in ring:
        a = hit.agency
        if a.id in state.recipients:
            continue
        if alert.exercise and not a.drills:
            continue  # a drill reaches only agencies that opted into drills
        event = views.for_role(a.type.value)
        if event is None:
            continue  # a role that may receive nothing of an alert
        state.recipients[a.id] = radius_km
        state.pending[a.id] = due
        out.append(
            deliver(
                state,
                a,
                radius_km,
                hit.distance_km,
                event,
                state.alert_event_id,
                accepted_at,
                actor=policy.actor,
            )
        )
        out += history.catch_up(a, radius_km, hit.distance_km, policy)
    state.radius_km = max(state.radius_km, radius_km)
    return out


def _announce(
    state: CaseState,
    widening: tuple[RadiusExpanded, str],
    shown: Ring,
    agencies: Sequence[Agency],
    policy: Policy,
) -> list[Outbound]:
    """The "widened" notice to each public channel reached at an earlier ring
    (the others get no copy of a widening: projections.yaml lists none for them)."""
    event, event_id = widening
    alert = state.issued
    views = RoleViews(alert, event, state.public_part, policy.projections, shown)
    directory = directory_of(agencies)
    accepted_at = from_ms(state.accepted_ms)
    out = []
    for aid, ring_km in state.recipients.items():
        agency = directory.get(aid)
        seen = views.for_role(agency.type.value) if agency is not None else None
        if agency is None or seen is None:
            continue
        km = distance_km(alert, agency)
        out.append(
            deliver(state, agency, ring_km, km, seen, event_id, accepted_at, actor=policy.actor)
        )
    return out


_KEPT: dict[str, type[AlertUpdated | SightingReported]] = {
    UPDATE: AlertUpdated,
    SIGHTING: SightingReported,
}


class _History:
    """The case's kept updates and sightings, parsed once per widening."""

    def __init__(self, state: CaseState) -> None:
        self.state = state
        self._events: list[tuple[str, datetime, str, Event]] | None = None

    def events(self) -> list[tuple[str, datetime, str, Event]]:
        if self._events is None:
            self._events = [
                (eid, from_ms(ms), kind, _KEPT[kind].model_validate(doc))
                for eid, ms, kind, doc in self.state.history
            ]
        return self._events

    def catch_up(
        self, agency: Agency, ring_km: int, distance_km: float, policy: Policy
    ) -> list[Outbound]:
        """What an agency reached only now would have had since the alert, in
        order, as it was sent to the agencies in range then (same delivery ids).
        A public channel gets none: its notice already shows the current public
        part, and sightings and updates are not for it (projections.yaml)."""
        if not self.state.history:
            return []
        kinds = policy.projections.allowed("AlertDelivery.event", agency.type.value)
        return [
            deliver(self.state, agency, ring_km, distance_km, event, eid, at, actor=policy.actor)
            for eid, at, kind, event in self.events()
            if kind in kinds
        ]


def awaited(state: CaseState | None, event: Event) -> str | None:
    """The agency whose alert delivery `event` acknowledges, if that delivery is
    still awaiting its acknowledgement: the first ack of it stops its clock.
    An ack whose actor is not of the acknowledging agency stops nothing."""
    if state is None or not isinstance(event, AgencyAcknowledgement):
        return None
    if event.actor is None or event.actor.agency_id != event.agency_id:
        return None
    aid = event.agency_id
    if aid in state.pending and event.delivery_id == delivery_id(state.alert_event_id, aid):
        return aid
    return None


def _owner(state: CaseState, did: str) -> str | None:
    """The recipient whose alert delivery has id `did`. The map is built in
    memory once per state and grows with it (recipients only grow while the
    case is active), so acks do not each hash every recipient."""
    owners = state.owners
    if len(owners) < len(state.recipients):
        for aid in islice(state.recipients, len(owners), None):
            owners[delivery_id(state.alert_event_id, aid)] = aid
    return owners.get(did)


def step_of(event: Event) -> AlertStep:
    """The lifecycle step an alert-stream event takes."""
    try:
        return AlertStep(event.avro_name)
    except ValueError:
        raise ValidationError(
            f"{event.avro_name} is not handled by the fan-out", field="ce_type"
        ) from None


def _stage(state: CaseState) -> AlertState:
    return AlertState(state.stage)


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
        return Outcome(state, note="duplicate event: already handled", changed=False)
    if isinstance(event, AlertIssued):
        # A second AlertIssued for the case raises AlertTransitionError.
        issued = next_state(_stage(state) if state is not None else None, AlertStep.ISSUE)
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
        state.stage = next_state(issued, AlertStep.DELIVER).value
        _remember(state, event_id)
        return Outcome(state, out)
    if isinstance(event, AgencyAcknowledgement):
        # Only the agency itself stops its delivery's clock (and its escalation):
        # an ack without an actor of that agency is dead-lettered, changing nothing.
        require_agency(event, event.agency_id, "the acknowledgement")
    if state is None:
        if not isinstance(event, AgencyAcknowledgement):
            next_state(None, step_of(event))  # raises: nothing was issued for this case
        raise ValidationError("no alert has been issued for this case", field="case_id")
    if isinstance(event, AgencyAcknowledgement):
        # Not remembered in seen_events: acks are idempotent, and a case's many
        # acks would push the event ids that de-duplication needs out of the list.
        # Refused before anything changes: the processor gives an ack the
        # state itself, not a copy (a case's thousands of acks would each copy it).
        aid = awaited(state, event)
        if aid is None:
            owner = _owner(state, event.delivery_id) if state.pending else None
            if owner is not None and owner != event.agency_id and owner in state.pending:
                raise ValidationError(
                    f"delivery {event.delivery_id} went to another agency", field="agency_id"
                )
            return Outcome(state, changed=False)  # an update's, a copy, or a late one
        del state.pending[aid]
        return Outcome(state)
    step = step_of(event)
    reason = event.reason if isinstance(event, AlertCancelled) else None
    # A closed case takes nothing more: AlertTransitionError, dead-lettered.
    stage = next_state(_stage(state), step, reason)
    if isinstance(event, RadiusExpanded):
        wider = event.radius_km > state.radius_km
        widening = (event, event_id) if wider else None
        out = _widen(state, event.radius_km, agencies, policy, now_ms, widening)
        state.stage = stage.value
        _remember(state, event_id)
        return Outcome(state, out)
    if isinstance(event, AlertUpdated | SightingReported | AlertCancelled):
        alert = state.issued
        shown = Ring(state.radius_km, from_ms(accepted_ms))
        views = RoleViews(alert, event, state.public_part, policy.projections, shown)
        directory = directory_of(agencies)
        accepted_at = from_ms(accepted_ms)
        out = []
        gone = 0
        for aid, ring in state.recipients.items():
            agency = directory.get(aid)
            if agency is None:
                gone += 1  # left the directory since: no longer on the bus
                continue
            seen = views.for_role(agency.type.value)
            if seen is not None:
                km = distance_km(alert, agency)
                out.append(
                    deliver(
                        state, agency, ring, km, seen, event_id, accepted_at, actor=policy.actor
                    )
                )
        if isinstance(event, AlertUpdated) and event.public_summary is not None:
            part = state.public_part.after(event)
            state.public = {"summary": part.summary, "photo_ref": part.photo_ref}
        if isinstance(event, AlertUpdated | SightingReported):
            # For agencies a later widening reaches (_History.catch_up).
            kind = UPDATE if isinstance(event, AlertUpdated) else SIGHTING
            state.record(event_id, accepted_ms, kind, event.model_dump(mode="json"))
        state.stage = stage.value
        if isinstance(event, AlertCancelled):
            # Keep what de-duplication needs and nothing about the child: the
            # state lives on in the changelog.
            state.status = "cancelled"
            state.pending.clear()
            state.recipients.clear()
            state.sent_ms.clear()
            state.alert = {}
            state.public = {}
            state.history = []
        _remember(state, event_id)
        note = f"{gone} recipients are no longer in the directory" if gone else ""
        return Outcome(state, out, note)
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
        return Outcome(state, changed=False)
    out: list[Outbound] = []
    changed = False
    target = policy.schedule.radius_km(state.hours_since_last_seen(now_ms, policy))
    if target > state.radius_km:
        changed = True
        previous = state.radius_km
        hours = state.hours_since_last_seen(now_ms, policy)
        eid = expansion_event_id(state.case_id, target)
        expanded = RadiusExpanded(
            case_id=state.case_id,
            previous_radius_km=previous,
            radius_km=target,
            hours_since_last_seen=round(hours, 4),
            actor=policy.actor,
        )
        out.extend(_widen(state, target, agencies, policy, now_ms, (expanded, eid)))
        state.stage = next_state(_stage(state), AlertStep.WIDEN).value
        # The widening is recorded on the alert stream for the audit trail; when
        # it comes back to this agent it is already in seen_events and does nothing.
        _remember(state, eid)
        out.append(Outbound.of(expanded, state.case_id, None, eid, state.alert_event_id))
    alert = state.issued
    shown = Ring(state.radius_km, from_ms(state.sent_ms.get(state.radius_km, state.accepted_ms)))
    views = RoleViews(alert, alert, state.public_part, policy.projections, shown)
    directory = directory_of(agencies)
    accepted_at = from_ms(state.accepted_ms)
    due = sorted(aid for aid, (_, due_ms) in state.pending.items() if due_ms <= now_ms)
    for aid in due:
        changed = True
        attempts = state.pending[aid][0]
        agency = directory.get(aid)
        resend = views.for_role(agency.type.value) if agency is not None else None
        if agency is None or resend is None:
            # Left the directory, or its role may no longer receive it: nothing to chase.
            del state.pending[aid]
            continue
        if attempts <= policy.max_resends:
            state.pending[aid] = (attempts + 1, now_ms + policy.ack_timeout_ms)
            out.append(
                deliver(
                    state,
                    agency,
                    state.recipients[aid],
                    distance_km(alert, agency),
                    resend,
                    state.alert_event_id,
                    accepted_at,
                    attempts + 1,
                    actor=policy.actor,
                )
            )
            continue
        del state.pending[aid]
        did = delivery_id(state.alert_event_id, aid)
        escalation = DeliveryEscalated(
            case_id=state.case_id,
            delivery_id=did,
            agency_id=aid,
            agency_type=agency.type.value,
            attempts=attempts,
            first_sent_at=from_ms(state.first_sent_ms(aid)),
            actor=policy.actor,
        )
        office = _office_in_charge(alert, coordination_offices)
        if office is not None:
            eid = str(uuid.uuid5(NAMESPACE, f"{did}/escalated/{office.id}"))
            out.append(Outbound.of(escalation, office.id, AgencyType.COORDINATION_OFFICE, eid, did))
    return Outcome(state, out, changed=changed)
