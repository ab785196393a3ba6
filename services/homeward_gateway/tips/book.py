"""The tips each police unit has received, rebuilt from police.tips.v1 (Kafka
is the only state): what GET /v1/tips lists. A unit sees only its own; another
unit's tip id is not found (404), so ids cannot be probed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from homeward.events import Event, TipAcknowledged, TipReceived
from homeward.events.tips import TipVerdict


@dataclass(frozen=True)
class TipEntry:
    tip: TipReceived
    event_id: str
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""
    verdict: TipVerdict = TipVerdict.UNASSESSED
    code: str = ""

    @property
    def tip_id(self) -> str:
        return self.tip.tip_id

    @property
    def agency_id(self) -> str:
        return self.tip.agency_id


class TipBook:
    def __init__(self) -> None:
        self._tips: dict[str, TipEntry] = {}
        self._lock = threading.Lock()

    def apply(self, event: Event, event_id: str, at: datetime) -> None:
        with self._lock:
            if isinstance(event, TipReceived):
                self._tips.setdefault(event.tip_id, TipEntry(event, event_id))
                return
            if not isinstance(event, TipAcknowledged):
                return
            entry = self._tips.get(event.tip_id)
            if entry is None or entry.agency_id != event.agency_id:
                return  # not this unit's tip: the router dead-letters it
            self._tips[event.tip_id] = replace(
                entry,
                acknowledged_at=entry.acknowledged_at or at,
                acknowledged_by=entry.acknowledged_by
                or (event.actor.principal if event.actor else ""),
                verdict=event.verdict if event.verdict != TipVerdict.UNASSESSED else entry.verdict,
                code=event.code or entry.code,
            )

    def of_unit(self, agency_id: str, *, limit: int = 100) -> list[TipEntry]:
        """The unit's tips, newest first."""
        with self._lock:
            mine = [e for e in self._tips.values() if e.agency_id == agency_id]
        mine.sort(key=lambda e: e.tip.received_at, reverse=True)
        return mine[:limit]

    def get(self, agency_id: str, tip_id: str) -> TipEntry | None:
        with self._lock:
            entry = self._tips.get(tip_id)
        return entry if entry is not None and entry.agency_id == agency_id else None

    def __len__(self) -> int:
        return len(self._tips)
