"""What the dispatcher writes and sends: the JSON body and webhook-id of a
delivery, its receipts, and its dead letter.

The body is the SDK's JSON rendering (homeward_agency.render.to_json), which
depends only on the inbox record (its event, headers, topic, partition,
offset and time): the same record gives the same bytes on every try, every
redelivery after a restart and every replay from the dead-letter topic.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeward.actors import service_actor
from homeward.codec import Codec, Record
from homeward.deadletter import dead_letter
from homeward.errors import HomewardError
from homeward.events.webhooks import WebhookOutcome, WebhookReceipt
from homeward.webhook_signing import webhook_id
from homeward_agency.delivery import Delivery, RawRecord
from homeward_agency.render import to_json

SOURCE = "/homeward/gateway"
SERVICE = "gateway-webhooks"
# Besides homeward.deadletter's dlq_reason/field/topic/partition/offset/service:
ATTEMPTS = "dlq_attempts"
LAST_STATUS = "dlq_last_status"
TIMESTAMP = "dlq_timestamp"  # the original record's time: a replay renders the same body
WEBHOOK_ID = "dlq_webhook_id"
AGENCY = "dlq_agency"


def body_of(delivery: Delivery) -> bytes:
    return json.dumps(to_json(delivery), ensure_ascii=False, separators=(",", ":")).encode()


def webhook_id_of(delivery: Delivery) -> str:
    """The delivery's de-duplication key (what the SDK de-duplicates on): an
    alert delivery's id, stable across the fan-out's resends; a notice's own
    event id, which a copy keeps."""
    return webhook_id(delivery.dedup_key)


@dataclass(frozen=True)
class Job:
    """One delivery to POST, with where it came from (to settle its offset)."""

    record: RawRecord
    delivery: Delivery
    agency_id: str
    webhook_id: str
    body: bytes
    replayed: bool = False

    @classmethod
    def of(cls, record: RawRecord, delivery: Delivery, agency_id: str) -> Job:
        return cls(record, delivery, agency_id, webhook_id_of(delivery), body_of(delivery))

    @property
    def tp(self) -> tuple[str, int]:
        return (self.record.topic, self.record.partition)

    def latency_ms(self) -> int:
        return max(0, int(time.time() * 1000) - self.delivery.timestamp_ms)


def receipt(
    codec: Codec,
    job: Job,
    outcome: WebhookOutcome,
    attempts: int,
    last_status: int | None,
    reason: str,
) -> Record:
    event = WebhookReceipt(
        case_id=job.delivery.case_id,
        delivery_id=job.webhook_id,
        agency_id=job.agency_id,
        kind=job.delivery.kind,
        outcome=outcome,
        attempts=attempts,
        latency_ms=job.latency_ms(),
        last_status=last_status,
        reason=reason[:1000],
        replayed=job.replayed,
        actor=service_actor("gateway"),
    )
    record, _meta = codec.encode(
        event,
        key=job.agency_id,
        source=SOURCE,
        correlation_id=job.delivery.case_id,
        causation_id=job.delivery.meta.id,
        event_id=str(uuid.uuid4()),
    )
    return record


def dead_letter_record(job: Job, attempts: int, last_status: int | None, reason: str) -> Record:
    """The original inbox record, bytes and headers untouched, with why,
    after how many tries and where it came from in dlq_* headers."""
    record = job.record
    letter = dead_letter(
        key=record.key,
        value=record.value,
        headers=record.headers,
        error=HomewardError(reason or "undelivered", field="webhook"),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        service=SERVICE,
    )
    extra = [
        (ATTEMPTS, str(attempts).encode()),
        (LAST_STATUS, b"" if last_status is None else str(last_status).encode()),
        (TIMESTAMP, str(record.timestamp).encode()),
        (WEBHOOK_ID, job.webhook_id.encode()),
        (AGENCY, job.agency_id.encode()),
    ]
    return Record(letter.key, letter.value, [*letter.headers, *extra])


@dataclass
class LetterRecord:
    """A dead letter turned back into the inbox record it was (RawRecord)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None
    letter: dict[str, str]
    """The dlq_* headers, decoded."""


def from_dead_letter(message: Any) -> LetterRecord:
    """The original record of a dead letter (a kafka-python ConsumerRecord)."""
    headers = list(message.headers or [])
    letter = {k: (v or b"").decode("utf-8", "replace") for k, v in headers if k.startswith("dlq_")}
    original = [(k, v) for k, v in headers if not k.startswith("dlq_")]
    return LetterRecord(
        topic=letter.get("dlq_topic", ""),
        partition=int(letter.get("dlq_partition") or 0),
        offset=int(letter.get("dlq_offset") or 0),
        timestamp=int(letter.get(TIMESTAMP) or message.timestamp),
        key=message.key,
        value=message.value,
        headers=original,
        letter=letter,
    )
