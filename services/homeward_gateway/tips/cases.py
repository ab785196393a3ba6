"""Which cases take public tips: those whose alert was released to the public
and is still open, with the case's chief officer and unit (the one-chief rule:
both from its AlertIssued). Rebuilt from alerts.events.v1 by the gateway's own
reader; Kafka is the only state."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from homeward.events import AlertCancelled, AlertIssued, AlertUpdated, Event, ResponsibleOfficer


@dataclass(frozen=True)
class TipTarget:
    case_id: str
    officer: ResponsibleOfficer
    agency_id: str  # the issuing unit's directory id (the AlertIssued's actor)
    last_seen_at: datetime
    public: bool  # a public summary was released (alert.release_public)
    open: bool

    @property
    def takes_tips(self) -> bool:
        return self.public and self.open and bool(self.agency_id)


class PublicCases:
    """Thread-safe: the follower's thread applies, request threads read."""

    def __init__(self) -> None:
        self._cases: dict[str, TipTarget] = {}
        self._lock = threading.Lock()

    def apply(self, event: Event) -> None:
        with self._lock:
            known = self._cases.get(event.case_id)
            if isinstance(event, AlertIssued):
                if known is not None:
                    return  # a second issue is refused downstream; the first stands
                self._cases[event.case_id] = TipTarget(
                    case_id=event.case_id,
                    officer=event.chief_officer,
                    agency_id=event.actor.agency_id if event.actor else "",
                    last_seen_at=event.last_seen_at,
                    public=bool(event.public_summary.strip()),
                    open=True,
                )
            elif known is None:
                return
            elif isinstance(event, AlertUpdated) and (event.public_summary or "").strip():
                self._cases[event.case_id] = replace(known, public=True)
            elif isinstance(event, AlertCancelled):
                self._cases[event.case_id] = replace(known, open=False)

    def target(self, case_id: str) -> TipTarget | None:
        """The case, if it takes public tips now; None otherwise (unknown, not
        public, closed: one answer, so the public cannot probe which)."""
        with self._lock:
            case = self._cases.get(case_id)
        return case if case is not None and case.takes_tips else None

    def __len__(self) -> int:
        return len(self._cases)
