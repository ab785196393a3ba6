"""Dead letters: a record that cannot be decoded or validated is copied, bytes
untouched, to the dead-letter topic with why and where it came from in its
headers, and the consumer goes on."""

from __future__ import annotations

from collections.abc import Iterable

from homeward.codec import Record
from homeward.errors import HomewardError

REASON = "dlq_reason"
FIELD = "dlq_field"
TOPIC = "dlq_topic"
PARTITION = "dlq_partition"
OFFSET = "dlq_offset"
SERVICE = "dlq_service"


def dead_letter(
    *,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]] | None,
    error: Exception,
    topic: str,
    partition: int,
    offset: int,
    service: str,
) -> Record:
    field = error.field if isinstance(error, HomewardError) else None
    reason = (
        error.reason if isinstance(error, HomewardError) else f"{type(error).__name__}: {error}"
    )
    kept = [(k, v or b"") for k, v in (headers or []) if not k.startswith("dlq_")]
    kept += [
        (REASON, reason.encode("utf-8", "replace")[:1000]),
        (FIELD, (field or "").encode()),
        (TOPIC, topic.encode()),
        (PARTITION, str(partition).encode()),
        (OFFSET, str(offset).encode()),
        (SERVICE, service.encode()),
    ]
    return Record(key or b"", value or b"", kept)
