"""One audit entry and the interface every entry point writes them through.

Entries hold ids and actions, never a person's data: who (principal and
agency), did what (the action of the roles table, or a read), to which case
and event, when, and how it ended (accepted, or refused with the status and
the reason)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class AuditOutcome(StrEnum):
    ACCEPTED = "accepted"  # a write that was published
    READ = "read"  # a read of police-only or victim data that was answered
    REFUSED = "refused"  # 401, 403, 404, 409, 422 ...


@dataclass(frozen=True)
class AuditEntry:
    entry_id: str  # unique; a retried write of the same entry is the same entry
    at: datetime
    service: str  # which entry point wrote it (intake, gateway, ...)
    action: str  # a roles-table action ("alert.issue") or a read ("timeline.read")
    outcome: AuditOutcome
    principal: str = ""  # "" when the caller could not be authenticated
    subject: str = ""
    agency_id: str = ""
    case_id: str = ""
    event_id: str = ""
    event_type: str = ""
    status: int = 0  # the HTTP status answered
    reason: str = ""  # for a refusal: why (no data, just the rule)
    detail: dict[str, str] = field(default_factory=dict)  # more ids (referral_id, topic)


class Auditor(Protocol):
    def record(self, entry: AuditEntry) -> None:
        """Put the entry on the record; raises if it cannot (the caller decides)."""
        ...


class MemoryAuditor:
    """Keeps entries in a list: for unit tests of the entry points."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            self.entries.append(entry)
