"""Intake's read model of the alerts: per case, the agency that issued it and
where its lifecycle stands (homeward.alert_lifecycle), rebuilt from
alerts.events.v1 with the same LogFollower as the referral view.

A decision syncs the view up to now first, under the case's lock, so a
second AlertIssued for a case, an update from another unit, or an update
after the cancellation is refused before anything is published.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from homeward.alert_lifecycle import AlertState, AlertStep, AlertTransitionError, next_state
from homeward.codec import Codec
from homeward.events import AlertCancelled, Event
from homeward.log_follower import FollowedView
from homeward.settings import KafkaSettings


@dataclass(frozen=True)
class AlertCase:
    owner: str  # the issuing agency's id ("" for an alert from before actors)
    state: AlertState
    # The event that moved it last: a retried request whose first try was published
    # but not answered (intake killed, the answer lost) carries this same id.
    last_event_id: str = ""


class AlertTable:
    def __init__(self) -> None:
        self._cases: dict[str, AlertCase] = {}
        self._lock = threading.Lock()

    def get(self, case_id: str) -> AlertCase | None:
        with self._lock:
            return self._cases.get(case_id)

    def apply(self, event: Event, event_id: str = "") -> None:
        """Fold one event of the alert topic in; out-of-turn ones change nothing
        (the fan-out dead-letters them), and re-applying one is harmless."""
        try:
            step = AlertStep(event.ce_type())
        except ValueError:
            return
        reason = event.reason if isinstance(event, AlertCancelled) else None
        with self._lock:
            case = self._cases.get(event.case_id)
            if case is None and step is not AlertStep.ISSUE:
                return
            if case is not None and step is AlertStep.ISSUE:
                return
            try:
                state = next_state(case.state if case else None, step, reason)
            except AlertTransitionError:
                return
            owner = case.owner if case else (event.actor.agency_id if event.actor else "")
            self._cases[event.case_id] = AlertCase(owner, state, event_id)

    def __len__(self) -> int:
        return len(self._cases)


class MemoryAlertView:
    """The table alone (unit tests, and the shape KafkaAlertView adds a log to)."""

    def __init__(self, table: AlertTable | None = None) -> None:
        self.table = table or AlertTable()

    def start(self) -> None:
        return None

    def ready(self) -> bool:
        return True

    def sync(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        return None


class KafkaAlertView(FollowedView, MemoryAlertView):
    """The table, kept up to date from alerts.events.v1 (FollowedView's methods
    come first: start, ready, sync and close are the follower's)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        *,
        codec: Codec | None = None,
        startup_timeout_seconds: float = 30.0,
    ) -> None:
        MemoryAlertView.__init__(self)
        FollowedView.__init__(
            self,
            settings,
            topic,
            name="alerts",
            codec=codec,
            startup_timeout_seconds=startup_timeout_seconds,
        )

    def apply_event(self, event: Any, event_id: str) -> None:
        self.table.apply(event, event_id)

    def known(self) -> int:
        return len(self.table)
