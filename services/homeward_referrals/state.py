"""What the router keeps, per case and per mandatory report, as JSON in its
Faust tables, and the deterministic ids of what it emits.

The changelogs behind the tables are not police topics, so nothing here
may hold DNA, a police note, a reporter's identity or the person beyond the
profile each open referral needs to be re-offered: the VictimProfile already
projected for its agency type, dropped as soon as no re-offer can follow.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from homeward.events import TaskStatus
from homeward.lifecycle import FINISHED

NAMESPACE = uuid.UUID("0e6f3c1d-8a4b-5f2e-9c7d-4b1a2e3f5d60")
SEEN_EVENTS_KEPT = 512
# Statuses from which a rejection, and so a re-offer, can still come.
OFFERABLE = frozenset({TaskStatus.REQUESTED, TaskStatus.RECEIVED})

Phase = Literal["answer", "completion"]


def derive_id(*parts: str) -> str:
    """The id of something emitted, from what caused it: handling the same input
    again (after a crash) writes the same id, and readers drop the copy."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Referral:
    referral_id: str
    rule_id: str
    service: str
    cites: str
    agency_type: str
    answer_ms: int  # the rule's deadlines, as they were when the referral was made
    complete_ms: int
    lat: float  # where the person was rescued: the next nearest is counted from here
    lon: float
    cause: str  # the rescue's event id
    agency_id: str | None = None  # who holds the current offer; None once escalated
    offer: int = 0
    offered: list[str] = field(default_factory=list)
    status: str | None = None  # TaskStatus of the current offer
    last_reason: str | None = None
    requested_ms: int = 0
    answer_due_ms: int = 0
    complete_due_ms: int = 0
    overdue: list[str] = field(default_factory=list)  # phases raised for this offer
    escalated: bool = False
    victim: dict[str, Any] | None = None  # VictimProfile for agency_type, JSON mode
    # A clocked rule's referral (rules.py `after`): not offered until `start_ms`,
    # which is set when the awaited rule's referral of this rescue is completed;
    # `dropped` once the family is found first.
    after: str | None = None
    wait_ms: int = 0
    start_ms: int | None = None
    dropped: bool = False

    @property
    def waiting(self) -> bool:
        return self.after is not None and self.offer == 0 and not self.dropped

    @property
    def task_status(self) -> TaskStatus | None:
        return TaskStatus(self.status) if self.status else None

    def due_phases(self) -> list[tuple[Phase, int]]:
        """(phase, due ms) of the deadlines still to be judged for the current offer."""
        if self.escalated or self.agency_id is None or self.task_status is None:
            return []
        due: list[tuple[Phase, int]] = []
        if self.task_status == TaskStatus.REQUESTED and "answer" not in self.overdue:
            due.append(("answer", self.answer_due_ms))
        if self.task_status not in FINISHED and "completion" not in self.overdue:
            due.append(("completion", self.complete_due_ms))
        return due


@dataclass
class CaseState:
    case_id: str
    referrals: dict[str, Referral] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)
    # Police recorded a DNA match for the case: the family is found. Only the
    # fact; the comparison itself stays on police topics.
    family_found: bool = False

    def remember(self, eid: str) -> None:
        self.seen.append(eid)
        del self.seen[:-SEEN_EVENTS_KEPT]

    def next_wakeup_ms(self) -> int | None:
        """The first moment (just past a deadline) a tick has something to judge."""
        times = [due + 1 for r in self.referrals.values() for _, due in r.due_phases()]
        times += [
            r.start_ms
            for r in self.referrals.values()
            if r.waiting and r.start_ms is not None and not self.family_found
        ]
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "referrals": {k: asdict(r) for k, r in self.referrals.items()},
            "seen": self.seen,
            "family_found": self.family_found,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseState:
        referrals = {k: Referral(**v) for k, v in data.get("referrals", {}).items()}
        return cls(
            data["case_id"],
            referrals,
            list(data.get("seen", [])),
            bool(data.get("family_found", False)),
        )


@dataclass
class ReportState:
    """A mandatory report's clock: no reporter, no person, no observation."""

    report_id: str
    event_id: str  # the MandatoryReportFiled's, so a redelivery is recognised
    sector: str
    filed_ms: int
    due_ms: int
    area: str
    lat: float
    lon: float
    acknowledged: bool = False
    overdue_sent: bool = False

    def next_wakeup_ms(self) -> int | None:
        return None if self.acknowledged or self.overdue_sent else self.due_ms + 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportState:
        return cls(**data)


@dataclass
class TipClock:
    """One public tip's acknowledgement clock: ids and times only, never what
    was seen or who saw it (the changelog is not a police topic)."""

    tip_id: str
    event_id: str  # the TipReceived's, so a redelivery is recognised
    agency_id: str  # the police unit the tip was routed to
    officer_id: str
    received_ms: int
    due_ms: int
    acknowledged: bool = False
    overdue_sent: bool = False

    def next_wakeup_ms(self) -> int | None:
        return None if self.acknowledged or self.overdue_sent else self.due_ms + 1


@dataclass
class TipsState:
    """A case's tips, keyed by tip id (tips are keyed by case on the bus)."""

    case_id: str
    tips: dict[str, TipClock] = field(default_factory=dict)

    def next_wakeup_ms(self) -> int | None:
        times = [w for t in self.tips.values() if (w := t.next_wakeup_ms()) is not None]
        return min(times) if times else None

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "tips": {k: asdict(t) for k, t in self.tips.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TipsState:
        tips = {k: TipClock(**v) for k, v in data.get("tips", {}).items()}
        return cls(data["case_id"], tips)
