"""Event models, one per Avro record schema that travels on its own."""

from __future__ import annotations

from homeward.events.alerts import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    DeliveryEscalated,
    Location,
    RadiusExpanded,
    ResponsibleOfficer,
    SightingReported,
)
from homeward.events.base import Classification, Event

EVENT_TYPES: dict[str, type[Event]] = {
    cls.avro_name: cls
    for cls in (
        AlertIssued,
        AlertUpdated,
        SightingReported,
        RadiusExpanded,
        AlertCancelled,
        AlertDelivery,
        AgencyAcknowledgement,
        DeliveryEscalated,
    )
}

__all__ = [
    "EVENT_TYPES",
    "AgencyAcknowledgement",
    "AlertCancelled",
    "AlertDelivery",
    "AlertIssued",
    "AlertUpdated",
    "CancelReason",
    "ChildDescription",
    "Classification",
    "DeliveryEscalated",
    "Event",
    "Location",
    "RadiusExpanded",
    "ResponsibleOfficer",
    "SightingReported",
]
