"""Intake's read model of referrals: referral -> its current status, agency and
offer, built from the router's audited log (referrals.events.v1).

The router is the authority on a referral's status; this view only lets
intake give an HTTP caller a fast, clear answer (illegal step, wrong agency,
unknown referral) before publishing. It holds no person's data: the log
names services, agencies and statuses only.

Pending answers: an answer intake has just published is not in the log until
the router has processed it, so an agency that sends `accepted` and at once
`in-progress` would be judged against the old status. The answer's status is
kept as pending until the router's record that cites it (answer_event_id:
ReferralStatusChanged or ReferralAnswerRefused) arrives, or it expires; the
next answer is checked against it meanwhile.

The Kafka adapter is referral_view_kafka.py; MemoryReferralView serves tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from homeward.events import (
    Event,
    Outcome,
    ReferralAnswerRefused,
    ReferralStatusChanged,
    RejectionReason,
    TaskStatus,
)

PENDING_TTL_SECONDS = 60.0

Key = tuple[str, str]  # (case id, referral id)


@dataclass(frozen=True)
class ReferralState:
    """A referral as the router last recorded it."""

    case_id: str
    referral_id: str
    rule_id: str
    agency_id: str
    agency_type: str
    offer: int
    status: TaskStatus
    reason: RejectionReason | None
    outcome: Outcome | None
    changed_at: datetime
    event_id: str
    """The ce_id of the ReferralStatusChanged this state comes from."""
    answer_event_id: str | None = None
    """The agency answer it records (None for the router's own steps)."""


@dataclass(frozen=True)
class PendingAnswer:
    """An answer intake published that the router has not recorded yet."""

    event_id: str
    status: TaskStatus
    offer: int
    since: float  # the table's clock (monotonic seconds)


class ReferralTable:
    """The view itself: thread-safe, last write wins per referral (as in the log)."""

    def __init__(
        self,
        pending_ttl_seconds: float = PENDING_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pending_ttl = pending_ttl_seconds
        self.clock = clock
        self._states: dict[Key, ReferralState] = {}
        self._pending: dict[Key, PendingAnswer] = {}
        self._lock = threading.Lock()

    def apply(self, event: Event, event_id: str = "") -> bool:
        """Take one record of the router's log; True if it changed the view."""
        if isinstance(event, ReferralStatusChanged):
            return self._changed(event, event_id)
        if isinstance(event, ReferralAnswerRefused):
            key = (event.case_id, event.referral_id)
            with self._lock:
                pending = self._pending.get(key)
                if pending is not None and pending.event_id == event.answer_event_id:
                    del self._pending[key]
                    return True
            return False
        return False  # overdue notices and escalations do not change a status

    def _changed(self, event: ReferralStatusChanged, event_id: str) -> bool:
        key = (event.case_id, event.referral_id)
        with self._lock:
            known = self._states.get(key)
            if known is not None and event.offer < known.offer:
                return False  # an earlier offer's record: the referral has moved on
            self._states[key] = ReferralState(
                case_id=event.case_id,
                referral_id=event.referral_id,
                rule_id=event.rule_id,
                agency_id=event.agency_id,
                agency_type=event.agency_type,
                offer=event.offer,
                status=event.status,
                reason=event.reason,
                outcome=event.outcome,
                changed_at=event.changed_at,
                event_id=event_id,
                answer_event_id=event.answer_event_id,
            )
            pending = self._pending.get(key)
            if pending is not None and (
                pending.event_id == event.answer_event_id or event.offer > pending.offer
            ):
                del self._pending[key]
            return True

    def get(self, case_id: str, referral_id: str) -> ReferralState | None:
        with self._lock:
            return self._states.get((case_id, referral_id))

    def pending(self, case_id: str, referral_id: str) -> PendingAnswer | None:
        key = (case_id, referral_id)
        with self._lock:
            found = self._pending.get(key)
            if found is not None and self.clock() - found.since > self.pending_ttl:
                # The router never cited it (down, or it dropped it): trust the log again.
                del self._pending[key]
                return None
            return found

    def expect(
        self, case_id: str, referral_id: str, *, event_id: str, status: TaskStatus, offer: int
    ) -> None:
        """Remember an answer just published, until the router records it."""
        with self._lock:
            self._pending[(case_id, referral_id)] = PendingAnswer(
                event_id, status, offer, self.clock()
            )

    def known_status(self, case_id: str, referral_id: str) -> TaskStatus | None:
        """What the next answer is checked against: a pending answer's status, else the log's."""
        pending = self.pending(case_id, referral_id)
        if pending is not None:
            return pending.status
        state = self.get(case_id, referral_id)
        return state.status if state is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)


class ReferralView(Protocol):
    """The read model with its lifecycle; the Kafka adapter follows the log."""

    table: ReferralTable

    def start(self) -> None:
        """Read the log to its end; raise if that fails."""

    def ready(self) -> bool: ...

    def sync(self, timeout: float) -> bool:
        """Catch up with what the log holds now; False if it timed out."""

    def close(self) -> None: ...


class MemoryReferralView:
    """The table alone, fed by tests with `table.apply(event)`."""

    def __init__(self, table: ReferralTable | None = None) -> None:
        self.table = table or ReferralTable()
        self.up = True  # tests flip these to simulate the log being unreadable
        self.synced = True

    def start(self) -> None:
        pass

    def ready(self) -> bool:
        return self.up

    def sync(self, timeout: float) -> bool:
        return self.up and self.synced

    def close(self) -> None:
        pass
