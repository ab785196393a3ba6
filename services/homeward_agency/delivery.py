"""What a subscriber hands its handler: one decoded inbox record with where it
came from, and the pure steps around it (decode, check, acknowledge).

An inbox carries alert deliveries (acknowledged), the coordination office's
notices (escalations, overdue referrals and reports), and referrals with the
router's answers about them (answered, not acknowledged: see answers.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol, cast

from homeward.actors import agency_actor
from homeward.codec import Codec, EventMeta, Record
from homeward.errors import CodecError
from homeward.events import (
    Actor,
    AgencyAcknowledgement,
    AlertDelivery,
    DeliveryEscalated,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReportOverdue,
    TipOverdue,
)
from homeward.events.alerts import DELIVERABLE, DELIVERY_KIND

Kind = Literal[
    "alert",
    "update",
    "sighting",
    "cancellation",
    "public_notice",
    "escalation",
    "referral",
    "answer_refused",
    "referral_overdue",
    "referral_escalated",
    "report_overdue",
    "tip_overdue",
]
InboxEvent = (
    AlertDelivery
    | DeliveryEscalated
    | ReferralRequested
    | ReferralAnswerRefused
    | ReferralOverdue
    | ReferralEscalated
    | ReportOverdue
    | TipOverdue
)
ReferralEvent = ReferralRequested | ReferralAnswerRefused | ReferralOverdue | ReferralEscalated

# What an AlertDelivery carries: the fan-out's own table of kinds.
KINDS: dict[type, Kind] = {
    cls: cast(Kind, DELIVERY_KIND[cls.avro_name]) for cls in DELIVERABLE.values()
}
# Every other inbox record, by its own type.
NOTICE_KINDS: dict[type, Kind] = {
    DeliveryEscalated: "escalation",
    ReferralRequested: "referral",
    ReferralAnswerRefused: "answer_refused",
    ReferralOverdue: "referral_overdue",
    ReferralEscalated: "referral_escalated",
    ReportOverdue: "report_overdue",
    TipOverdue: "tip_overdue",
}
INBOX_TYPES = (AlertDelivery, *NOTICE_KINDS)


class RawRecord(Protocol):
    """The parts of a kafka-python ConsumerRecord this package reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None


@dataclass(frozen=True)
class Delivery:
    """A decoded inbox record: an AlertDelivery, a DeliveryEscalated, a referral
    (ReferralRequested) or a notice about one (ReferralAnswerRefused,
    ReferralOverdue, ReferralEscalated), or a ReportOverdue."""

    event: InboxEvent
    meta: EventMeta
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    """Kafka's record timestamp: CreateTime, set by the fan-out's producer."""
    key: str
    """The record key: the id of the agency whose inbox this is."""

    @property
    def kind(self) -> Kind:
        if isinstance(self.event, AlertDelivery):
            return KINDS[type(self.event.event)]
        return NOTICE_KINDS[type(self.event)]

    @property
    def delivery_id(self) -> str:
        """The alert delivery's id (an escalation: the one that went unacknowledged);
        for a referral or a notice about one, the referral id; for a report, its id."""
        event = self.event
        if isinstance(event, AlertDelivery | DeliveryEscalated):
            return event.delivery_id
        if isinstance(event, ReportOverdue):
            return event.case_id
        if isinstance(event, TipOverdue):
            return event.tip_id
        return event.referral_id

    @property
    def referral_id(self) -> str | None:
        event = self.event
        return event.referral_id if isinstance(event, ReferralEvent) else None

    @property
    def case_id(self) -> str:
        return self.event.case_id

    @property
    def needs_ack(self) -> bool:
        """Only alert deliveries are acknowledged: escalations and overdue notices
        are notices, and a referral is answered instead (Subscriber.answer)."""
        return isinstance(self.event, AlertDelivery)

    @property
    def dedup_key(self) -> str:
        event = self.event
        if isinstance(event, AlertDelivery):
            # Stable across the fan-out's resends, which carry new event ids.
            return event.delivery_id
        if isinstance(event, DeliveryEscalated):
            # It names the delivery that went unacknowledged; keep that id apart
            # from the coordination office's own deliveries.
            return "escalation:" + event.delivery_id
        # The router's records: a copy keeps its event id (the wire contract).
        return f"{self.kind}:{self.meta.id}"

    @property
    def received_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def latency_ms(self) -> float | None:
        """Intake acceptance to arrival in the inbox, in milliseconds."""
        if not isinstance(self.event, AlertDelivery):
            return None
        return self.timestamp_ms - self.event.accepted_at.timestamp() * 1000


def record_key(record: RawRecord) -> str | None:
    """The record key as text, or None when absent or not UTF-8 (never ours)."""
    if record.key is None:
        return None
    try:
        return record.key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_delivery(codec: Codec, record: RawRecord, recipient: str | None = None) -> Delivery:
    """Decode one inbox record; CodecError names the field when it is not a
    delivery this inbox can carry, or (given `recipient`) not addressed to it."""
    decoded = codec.decode(record.value, record.headers)
    if not isinstance(decoded.event, INBOX_TYPES):
        raise CodecError(
            f"{decoded.meta.type} does not belong in an inbox "
            f"(one of {', '.join(t.__name__ for t in INBOX_TYPES)} expected)",
            field="headers.ce_type",
        )
    event = cast(InboxEvent, decoded.event)
    key = record_key(record) or ""
    # Overdue and escalation notices name the agency that is late, not the
    # recipient (the coordination office); deliveries and referrals name it.
    if (
        recipient is not None
        and isinstance(event, AlertDelivery | ReferralRequested)
        and event.agency_id != recipient
    ):
        # Keyed to us but addressed to someone else: a fan-out or router bug,
        # and the content may not be ours to see. Refuse it rather than guess.
        raise CodecError(
            f"addressed to {event.agency_id!r} but keyed to {recipient!r}",
            field="value.agency_id",
        )
    return Delivery(
        event=event,
        meta=decoded.meta,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=key,
    )


def source_for(agency_id: str) -> str:
    """The CloudEvents source of what an agency's subscriber writes."""
    return f"urn:homeward:agency:{agency_id}"


def acknowledgement(
    codec: Codec,
    delivery: Delivery,
    agency_id: str,
    note: str = "",
    actor: Actor | None = None,
) -> tuple[Record, AgencyAcknowledgement]:
    """The acknowledgement record for a delivery: keyed by case id, caused by
    the delivery record, correlated by case. Its actor is the agency's (the
    fan-out stops a resend only for an ack whose actor is the agency's own);
    by default agency_actor(agency_id, the delivery's agency type)."""
    if not isinstance(delivery.event, AlertDelivery):
        raise ValueError(f"a {delivery.kind} is not acknowledged")
    ack = AgencyAcknowledgement(
        case_id=delivery.case_id,
        delivery_id=delivery.delivery_id,
        agency_id=agency_id,
        note=note,
        actor=actor or agency_actor(agency_id, delivery.event.agency_type),
    )
    record, _meta = codec.encode(
        ack,
        key=delivery.case_id,
        source=source_for(agency_id),
        correlation_id=delivery.case_id,
        causation_id=delivery.meta.id,
        event_id=str(uuid.uuid4()),
    )
    return record, ack
