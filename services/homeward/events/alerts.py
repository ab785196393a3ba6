"""The missing-child alert flow (digest flow 1): models mirroring
schemas/avro/homeward.alerts.*.avsc one to one."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field

from homeward.agency_types import AgencyType
from homeward.events.base import Classification, Event, Instant, Model

Text = Annotated[str, Field(max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
# Avro ints are 32-bit; these bounds also say what makes sense.
MAX_KM = 40_075  # once round the Earth
MAX_ATTEMPTS = 1_000
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]


class Location(Model):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    description: ShortText
    admin_code: str | None = Field(default=None, pattern=r"^[0-9]{6,12}$")


class ResponsibleOfficer(Model):
    officer_id: Ident
    name: ShortText
    unit: ShortText
    phone: str | None = Field(default=None, max_length=32)


class ChildDescription(Model):
    name: ShortText
    sex: Literal["female", "male", "unknown"]
    age_years: int = Field(ge=0, le=17)
    height_cm: int | None = Field(default=None, ge=30, le=220)
    clothing: Text = ""
    distinguishing_marks: Text = ""
    photo_ref: str | None = Field(default=None, max_length=500)


class AlertIssued(Event):
    avro_name: ClassVar[str] = "homeward.alerts.AlertIssued"

    issuing_unit: ShortText
    chief_officer: ResponsibleOfficer
    child: ChildDescription
    last_seen: Location
    last_seen_at: Instant
    # Validated against the known types: a misspelt type would reach no one.
    target_types: list[AgencyType] = Field(default_factory=list, max_length=32)
    public_summary: Text
    details: Text = ""
    # A drill: only agencies that opted in get it, marked; the public never does.
    exercise: bool = False


class AlertUpdated(Event):
    avro_name: ClassVar[str] = "homeward.alerts.AlertUpdated"

    new_information: Annotated[str, Field(min_length=1, max_length=4000)]
    photo_ref: str | None = Field(default=None, max_length=500)
    public_summary: str | None = Field(default=None, max_length=4000)


class SightingReported(Event):
    avro_name: ClassVar[str] = "homeward.alerts.SightingReported"

    sighting_id: Ident
    location: Location
    seen_at: Instant
    reporter_kind: Literal["public", "agency", "police"]
    description: Text


class RadiusExpanded(Event):
    avro_name: ClassVar[str] = "homeward.alerts.RadiusExpanded"

    previous_radius_km: int = Field(ge=0, le=MAX_KM)
    radius_km: int = Field(gt=0, le=MAX_KM)
    hours_since_last_seen: float = Field(ge=0)


class CancelReason(StrEnum):
    FOUND = "FOUND"
    FALSE_REPORT = "FALSE_REPORT"
    WITHDRAWN = "WITHDRAWN"


class AlertCancelled(Event):
    avro_name: ClassVar[str] = "homeward.alerts.AlertCancelled"

    reason: CancelReason
    note: Text = ""


class PublicNotice(Event):
    """The public part of an alert: what media and online platforms may publish
    (Ninghe 二(二)3: push missing-child information to the public)."""

    avro_name: ClassVar[str] = "homeward.alerts.PublicNotice"
    classification: ClassVar[Classification] = Classification.PUBLIC

    status: Literal["active", "updated", "widened", "closed"]
    summary: Text
    child_name: str | None = Field(default=None, max_length=200)
    sex: Literal["female", "male", "unknown"] | None = None
    age_years: int | None = Field(default=None, ge=0, le=17)
    height_cm: int | None = Field(default=None, ge=30, le=220)
    clothing: str | None = Field(default=None, max_length=4000)
    photo_ref: str | None = Field(default=None, max_length=500)
    last_seen_area: str | None = Field(default=None, max_length=200)
    last_seen_at: Instant | None = None
    contact: str | None = Field(default=None, max_length=200)
    # The public appeal area: the search ring, around a centre rounded to about
    # 1 km (homeward_fanout.public.AREA_DECIMALS), never the exact last-seen point.
    radius_km: int | None = Field(default=None, ge=0, le=MAX_KM)
    area_latitude: float | None = Field(default=None, ge=-90, le=90)
    area_longitude: float | None = Field(default=None, ge=-180, le=180)
    as_of: Instant | None = None


DeliveredEvent = AlertIssued | AlertUpdated | SightingReported | AlertCancelled | PublicNotice


class AlertDelivery(Event):
    avro_name: ClassVar[str] = "homeward.alerts.AlertDelivery"

    delivery_id: Ident
    agency_id: Ident
    agency_type: str
    attempt: int = Field(default=1, ge=1, le=MAX_ATTEMPTS)
    ring_km: int = Field(ge=0, le=MAX_KM)
    distance_km: float = Field(ge=0)
    accepted_at: Instant
    source_event_id: str
    event: DeliveredEvent
    exercise: bool = False  # a drill's delivery: every inbox shows it as one

    def to_avro(self) -> dict[str, Any]:
        datum = super().to_avro()
        # A union of records: name the branch, as fastavro's tuple notation allows.
        datum["event"] = (self.event.avro_name, datum["event"])
        return datum

    @classmethod
    def from_avro(cls, datum: dict[str, Any]) -> Self:
        name, inner = datum["event"]
        event_cls = DELIVERABLE[name]
        # As Event.from_avro: validated in full, unknown keys aside (the schema rules them out).
        delivery: Self = cls.__pydantic_validator__.validate_python(
            {**datum, "event": event_cls.from_avro(inner)}, extra="ignore"
        )
        return delivery

    def data_classification(self) -> Classification:
        # A delivery is as sensitive as what it carries: a public notice is public.
        return self.event.data_classification()


DELIVERABLE: dict[str, type[Event]] = {
    c.avro_name: c
    for c in (AlertIssued, AlertUpdated, SightingReported, AlertCancelled, PublicNotice)
}
# How people (and metric labels) call what a delivery carries.
DELIVERY_KIND: dict[str, str] = {
    AlertIssued.avro_name: "alert",
    AlertUpdated.avro_name: "update",
    SightingReported.avro_name: "sighting",
    AlertCancelled.avro_name: "cancellation",
    PublicNotice.avro_name: "public_notice",
}


class AgencyAcknowledgement(Event):
    avro_name: ClassVar[str] = "homeward.alerts.AgencyAcknowledgement"

    delivery_id: Ident
    agency_id: Ident
    note: Text = ""


class DeliveryEscalated(Event):
    avro_name: ClassVar[str] = "homeward.alerts.DeliveryEscalated"

    delivery_id: Ident
    agency_id: Ident
    agency_type: str
    attempts: int = Field(ge=1, le=MAX_ATTEMPTS)
    first_sent_at: Instant
