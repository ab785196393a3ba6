"""The audit record's wire models, mirroring schemas/avro/homeward.audit.*.avsc.

AuditEntry travels unchained on audit.entries.v1 (written by the entry points);
AuditChained and AuditCheckpoint are what the sequencer appends to audit.log.v1.
Ids and actions only, never a person's data. `case_id` is the record key (the
case, or `principal:<id>` / `anonymous` when there is none): ce_subject needs one;
`case` is the entry's own case id, empty when it has none."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from homeward.audit.record import AuditEntry as Entry
from homeward.audit.record import AuditOutcome
from homeward.events.base import Event, Instant, Model

_ID = Field(default="", max_length=256)


class AuditDetail(Model):
    name: str = Field(min_length=1, max_length=64)
    value: str = Field(max_length=256)


class AuditEntry(Event):
    avro_name: ClassVar[str] = "homeward.audit.AuditEntry"

    case_id: str = Field(min_length=1, max_length=256)  # the key; see the module doc
    entry_id: str = Field(min_length=1, max_length=128)
    at: Instant
    service: str = Field(min_length=1, max_length=64)
    action: str = Field(min_length=1, max_length=64)
    outcome: AuditOutcome
    principal: str = _ID
    subject: str = _ID
    agency_id: str = _ID
    case: str = _ID
    event_id: str = _ID
    event_type: str = _ID
    status: int = Field(default=0, ge=0, le=999)
    reason: str = Field(default="", max_length=500)
    detail: list[AuditDetail] = Field(default_factory=list, max_length=32)

    @staticmethod
    def key_of(entry: Entry) -> str:
        if entry.case_id:
            return entry.case_id
        return f"principal:{entry.principal}" if entry.principal else "anonymous"

    @classmethod
    def of(cls, entry: Entry) -> AuditEntry:
        return cls(
            case_id=cls.key_of(entry),
            entry_id=entry.entry_id,
            at=entry.at,
            service=entry.service,
            action=entry.action,
            outcome=entry.outcome,
            principal=entry.principal,
            subject=entry.subject,
            agency_id=entry.agency_id,
            case=entry.case_id,
            event_id=entry.event_id,
            event_type=entry.event_type,
            status=entry.status,
            reason=entry.reason,
            detail=[AuditDetail(name=k, value=v) for k, v in sorted(entry.detail.items())],
        )

    def to_entry(self) -> Entry:
        return Entry(
            entry_id=self.entry_id,
            at=self.at,
            service=self.service,
            action=self.action,
            outcome=AuditOutcome(self.outcome),
            principal=self.principal,
            subject=self.subject,
            agency_id=self.agency_id,
            case_id=self.case,
            event_id=self.event_id,
            event_type=self.event_type,
            status=self.status,
            reason=self.reason,
            detail={d.name: d.value for d in self.detail},
        )


# Hex, checked by the verifier (a wrong one is a finding there, not a decode error).
_HASH = Field(max_length=64)


class AuditChained(Event):
    avro_name: ClassVar[str] = "homeward.audit.AuditChained"

    case_id: str = Field(min_length=1, max_length=256)  # the entry's key
    partition: int = Field(ge=0)
    seq: int = Field(ge=0)
    prev_hash: str = _HASH
    hash: str = _HASH
    entry: AuditEntry


class AuditCheckpoint(Event):
    avro_name: ClassVar[str] = "homeward.audit.AuditCheckpoint"

    case_id: str = Field(min_length=1, max_length=256)  # "checkpoint:<partition>"
    partition: int = Field(ge=0)
    seq: int = Field(ge=0)
    hash: str = _HASH
    at: Instant
    key_id: str = Field(min_length=1, max_length=64)
    signature: str = Field(max_length=128)  # hex
