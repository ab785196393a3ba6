"""The agency subscriber: the SDK an agency uses to read, de-duplicate and
acknowledge its inbox (Subscriber), a many-agency simulator for demos and
tests (Fleet), and the reference CLI (`python -m homeward_agency`)."""

from homeward_agency.dedup import SeenSet
from homeward_agency.delivery import Delivery
from homeward_agency.fleet import Fleet, FleetStats
from homeward_agency.forward import Forwarder, ForwardError
from homeward_agency.render import format_line, to_json
from homeward_agency.settings import AgencySettings
from homeward_agency.subscriber import Subscriber, SubscriberStats

__all__ = [
    "AgencySettings",
    "Delivery",
    "Fleet",
    "FleetStats",
    "ForwardError",
    "Forwarder",
    "SeenSet",
    "Subscriber",
    "SubscriberStats",
    "format_line",
    "to_json",
]
