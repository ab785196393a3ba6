"""The public part of an alert: what media and online platforms may publish
(Ninghe 二(二)3), as a pure function of the alert and the event at hand.

Only fields a missing-child appeal shows the public go in: the public
summary, the child's name, sex, age, height, clothing and photo, the
last-seen area and time, the issuing unit as the contact, and the search
ring (its radius, around a centre rounded to AREA_DECIMALS). Never the
police `details`, the chief officer, the exact last-seen coordinates or admin
code, distinguishing marks, sightings or police notes: those stay with the
roles that projections.yaml lets receive the alert itself.

A drill (AlertIssued.exercise) has no public part: nothing of it is for the
public, whatever a role's projection says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from homeward.events import (
    Actor,
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    Event,
    PublicNotice,
    RadiusExpanded,
)
from homeward.projections import Projections

Status = Literal["active", "updated", "widened", "closed"]
# The ring's centre as the public sees it: 0.01 degree is about 1.1 km, enough
# to draw a ring of the schedule's tens of kilometres, not enough to point at
# the doorstep where the child was last seen.
AREA_DECIMALS = 2


@dataclass(frozen=True)
class Ring:
    """The search ring a notice describes, and since when it holds (the notice's `as_of`)."""

    radius_km: int
    as_of: datetime


@dataclass(frozen=True)
class PublicPart:
    """What public updates have changed since the alert (None: as the alert had it)."""

    summary: str | None = None
    photo_ref: str | None = None

    def after(self, update: AlertUpdated) -> PublicPart:
        if update.public_summary is None:
            return self
        return PublicPart(update.public_summary, update.photo_ref or self.photo_ref)


def notice(
    alert: AlertIssued,
    status: Status,
    part: PublicPart | None = None,
    actor: Actor | None = None,
    ring: Ring | None = None,
) -> PublicNotice:
    """The notice; `actor` is who caused what it tells (the alert's issuer, the
    updater, the canceller): a notice is a copy of their event, not the fan-out's."""
    part = part or PublicPart()
    child = alert.child
    where = alert.last_seen
    return PublicNotice(
        case_id=alert.case_id,
        status=status,
        summary=alert.public_summary if part.summary is None else part.summary,
        child_name=child.name,
        sex=child.sex,
        age_years=child.age_years,
        height_cm=child.height_cm,
        clothing=child.clothing or None,
        photo_ref=part.photo_ref or child.photo_ref,
        last_seen_area=alert.last_seen.description,
        last_seen_at=alert.last_seen_at,
        contact=alert.issuing_unit,
        actor=actor,
        radius_km=ring.radius_km if ring else None,
        area_latitude=round(where.latitude, AREA_DECIMALS) if ring else None,
        area_longitude=round(where.longitude, AREA_DECIMALS) if ring else None,
        as_of=ring.as_of if ring else None,
    )


def released(alert: AlertIssued, part: PublicPart) -> bool:
    """The alert has a public summary (its own, or one an update released)."""
    summary = alert.public_summary if part.summary is None else part.summary
    return bool(summary and summary.strip())


def public_notice(
    alert: AlertIssued, event: Event, part: PublicPart | None = None, ring: Ring | None = None
) -> PublicNotice | None:
    """What the public may learn from `event` about `alert`'s case, or None
    when it tells the public nothing (a sighting, an update without a new
    public summary, anything of a drill).

    `part` is the public part as earlier updates left it; an update that
    brings a public summary is applied to it here. `ring` is the search ring
    the notice shows (a widening's is the wider one).
    """
    if alert.exercise:
        return None
    part = part or PublicPart()
    if isinstance(event, AlertUpdated) and event.public_summary:
        # Released now (or again): the first public word on an alert sent to
        # agencies only, or a new public summary.
        return notice(alert, "updated", part.after(event), event.actor, ring)
    if not released(alert, part):
        # Intake's promise: an alert issued with an empty public summary reaches
        # agencies only, until a supervisor releases one (alert.release_public).
        return None
    if isinstance(event, AlertIssued):
        return notice(event, "active", part, event.actor, ring)
    if isinstance(event, AlertUpdated):
        if event.public_summary is None:
            return None
        return notice(alert, "updated", part.after(event), event.actor, ring)
    if isinstance(event, RadiusExpanded):
        # The appeal area grew: publishers redraw it (CAP Update with the new circle).
        return notice(alert, "widened", part, event.actor, ring)
    if isinstance(event, AlertCancelled):
        # The same public part, closed: publishers find and withdraw what they ran.
        return notice(alert, "closed", part, event.actor, ring)
    return None


def _short(avro_name: str) -> str:
    return avro_name.rpartition(".")[2]


PUBLIC_NOTICE = _short(PublicNotice.avro_name)


class RoleViews:
    """What each role may receive of one alert event, by the `AlertDelivery.event`
    row of projections.yaml: the event itself if its kind is listed, else its
    public notice if PublicNotice is, else nothing. The notice is built once."""

    def __init__(
        self,
        alert: AlertIssued,
        event: Event,
        part: PublicPart,
        projections: Projections,
        ring: Ring | None = None,
    ) -> None:
        self.alert, self.event, self.part, self.projections = alert, event, part, projections
        self.ring = ring
        self._notice: PublicNotice | None = None
        self._built = False

    def for_role(self, agency_type: str) -> Event | None:
        kinds = self.projections.allowed("AlertDelivery.event", agency_type)
        if _short(self.event.avro_name) in kinds:
            return self.event
        if PUBLIC_NOTICE not in kinds:
            return None
        if not self._built:
            self._notice = public_notice(self.alert, self.event, self.part, self.ring)
            self._built = True
        return self._notice
