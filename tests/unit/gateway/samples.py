"""Plainly fake inbox records for the gateway's unit tests, built as the
fan-out and router write them (encoded, then decoded by the SDK's decoder)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from homeward.codec import Codec
from homeward.events.base import Event
from homeward_agency.delivery import Delivery, decode_delivery
from tests.unit.agency import samples as s

CODEC = Codec()
_offsets = itertools.count()


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None


def record(event: Event, agency_id: str, topic: str = "inbox.health.v1") -> Rec:
    rec, _ = CODEC.encode(event, key=agency_id, source="urn:test", event_id=str(uuid.uuid4()))
    return Rec(topic, 0, next(_offsets), 1_900_000_000_000, rec.key, rec.value, list(rec.headers))


def delivered(event: Event, agency_id: str, topic: str = "inbox.health.v1") -> Delivery:
    return decode_delivery(CODEC, record(event, agency_id, topic), recipient=agency_id)


def alert(agency_id: str, delivery_id: str, inner: Event | None = None) -> Delivery:
    return delivered(
        s.delivery(agency_id, delivery_id, agency_type="health", event=inner), agency_id
    )


def referral(agency_id: str, referral_id: str, offer: int = 1) -> Delivery:
    return delivered(s.referral(agency_id, referral_id, offer=offer), agency_id)
