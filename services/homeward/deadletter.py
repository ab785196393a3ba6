"""Dead letters: a record that cannot be decoded or validated is copied, bytes
untouched, to the dead-letter topic with why and where it came from in its
headers, and the consumer goes on."""

from __future__ import annotations

from collections.abc import Iterable

import pydantic

from homeward.codec import Record
from homeward.errors import HomewardError

REASON = "dlq_reason"
FIELD = "dlq_field"
TOPIC = "dlq_topic"
PARTITION = "dlq_partition"
OFFSET = "dlq_offset"
SERVICE = "dlq_service"


def describe(error: Exception) -> tuple[str | None, str]:
    """(field, reason) of an error, without the input values: a pydantic error's
    text repeats the input, which may be a child's personal data."""
    if isinstance(error, HomewardError):
        return error.field, error.reason
    if isinstance(error, pydantic.ValidationError):
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return field, f"{first['msg']} ({error.error_count()} error(s))"
    return None, type(error).__name__


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
    field, reason = describe(error)
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
