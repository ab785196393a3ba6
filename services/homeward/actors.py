"""Who an event says caused it (events.Actor), in one place for every writer
that is not intake (intake takes it from the verified token).

The rule (docs/wire-contract.md, "The actor"):
- What a Homeward service decides itself (RadiusExpanded, AlertDelivery,
  DeliveryEscalated, ReferralRequested, ReferralStatusChanged, refusals,
  overdue notices, anomalies) carries `service_actor(<service>)`: principal
  `homeward-<service>`, kind system, agency the Homeward operator
  (HOMEWARD_OPERATOR_AGENCY_ID, default HOMEWARD), agency type "" (the
  operator is not an agency type of the directory).
- A copy of someone else's event keeps that event's actor: an AlertDelivery's
  inner event keeps who issued it; an alert a rescue closes carries the
  rescue's actor.
- What an SDK writes for an agency (acks, answers, report acknowledgements,
  hospital records) carries `agency_actor(...)`: that agency's id and type,
  and the principal it authenticates as (its Kafka user when it has one).

On a direct Kafka write the actor is only asserted: Kafka's ACLs confine a
writer per agency TYPE, not per agency, so a type's principal can name any
agency of its type. The checks the processors make (the actor's agency is the
one the event acts for) refuse the inconsistent and the careless, not a
writer holding its type's credentials; per-agency confinement is the agency
gateway's (a later issue).
"""

from __future__ import annotations

import os

from homeward.errors import ValidationError
from homeward.events import Actor, Event

OPERATOR_ENV = "HOMEWARD_OPERATOR_AGENCY_ID"
DEFAULT_OPERATOR = "HOMEWARD"


def operator_agency_id() -> str:
    """The directory-style id of the organisation that runs Homeward itself."""
    return os.environ.get(OPERATOR_ENV, "").strip() or DEFAULT_OPERATOR


def service_actor(service: str, operator: str | None = None) -> Actor:
    """The actor of what a Homeward service decides itself."""
    return Actor(
        principal=f"homeward-{service}",
        kind="system",
        agency_id=operator or operator_agency_id(),
        agency_type="",
    )


def agency_actor(agency_id: str, agency_type: str, principal: str | None = None) -> Actor:
    """The actor of what an agency's (or hospital's) system writes for it."""
    return Actor(
        principal=principal or f"agency:{agency_id}",
        kind="system",
        agency_id=agency_id,
        agency_type=str(agency_type),
    )


PUBLIC_PRINCIPAL = "anonymous-public"
PUBLIC_AGENCY = "PUBLIC"


def public_actor() -> Actor:
    """The actor of what a member of the public sends through a public channel
    (the gateway's tip line): anonymous by design, no subject, no address."""
    return Actor(principal=PUBLIC_PRINCIPAL, kind="person", agency_id=PUBLIC_AGENCY, agency_type="")


def stamped(event: Event, actor: Actor) -> Event:
    """`event` with `actor` unless it names one already (a copy keeps its own)."""
    return event if event.actor is not None else event.model_copy(update={"actor": actor})


def require_agency(event: Event, agency_id: str, what: str) -> Actor:
    """The event's actor, if it acts for `agency_id`; else ValidationError
    naming the field. `what` names the event in the reason."""
    actor = event.actor
    if actor is None:
        raise ValidationError(
            f"{what} carries no actor; it cannot act for an agency", field="actor"
        )
    if actor.agency_id != agency_id:
        raise ValidationError(
            f"{what} is for agency {agency_id!r} but its actor "
            f"{actor.principal!r} is of agency {actor.agency_id!r}",
            field="actor.agency_id",
        )
    return actor
