"""The alert's lifecycle as one explicit transition table, checked at the
door by intake (from its read model of the case) and again by the fan-out
(from its own state), so an event that arrives out of turn is refused in both
places with the same reason.

    (none) --AlertIssued--> issued --first ring delivered--> active
    issued | active | widened | updated --RadiusExpanded--> widened
    issued | active | widened | updated --AlertUpdated----> updated
    issued | active | widened | updated --SightingReported-> (unchanged)
    issued | active | widened | updated --AlertCancelled---> resolved_found
                                              | cancelled_false_report | cancelled_withdrawn

The three end states take nothing more: an update after the cancellation is
a 409, not an update that reaches no one.
"""

from __future__ import annotations

from enum import StrEnum

from homeward.errors import ValidationError
from homeward.events.alerts import CancelReason


class AlertState(StrEnum):
    ISSUED = "issued"
    ACTIVE = "active"
    WIDENED = "widened"
    UPDATED = "updated"
    RESOLVED_FOUND = "resolved_found"
    CANCELLED_FALSE_REPORT = "cancelled_false_report"
    CANCELLED_WITHDRAWN = "cancelled_withdrawn"


class AlertStep(StrEnum):
    """What can happen to an alert (the event types, and the first delivery)."""

    ISSUE = "homeward.alerts.AlertIssued"
    DELIVER = "delivered"
    WIDEN = "homeward.alerts.RadiusExpanded"
    UPDATE = "homeward.alerts.AlertUpdated"
    SIGHTING = "homeward.alerts.SightingReported"
    CANCEL = "homeward.alerts.AlertCancelled"


S = AlertState
OPEN = frozenset({S.ISSUED, S.ACTIVE, S.WIDENED, S.UPDATED})
CLOSED = frozenset(set(S) - OPEN)

END_OF: dict[CancelReason, AlertState] = {
    CancelReason.FOUND: S.RESOLVED_FOUND,
    CancelReason.FALSE_REPORT: S.CANCELLED_FALSE_REPORT,
    CancelReason.WITHDRAWN: S.CANCELLED_WITHDRAWN,
}


class AlertTransitionError(ValidationError):
    """A step the table does not allow from the alert's state (HTTP 409)."""

    def __init__(self, reason: str, *, state: AlertState | None, step: AlertStep) -> None:
        self.state = state
        self.step = step
        super().__init__(reason, field="case_id")


def next_state(
    state: AlertState | None, step: AlertStep, reason: CancelReason | None = None
) -> AlertState:
    """The state after `step`, or AlertTransitionError naming why not.

    `state` None means no alert exists for the case; `reason` is the
    cancellation's (required for CANCEL)."""
    if state is None:
        if step is AlertStep.ISSUE:
            return S.ISSUED
        raise AlertTransitionError("no alert has been issued for this case", state=None, step=step)
    if step is AlertStep.ISSUE:
        raise AlertTransitionError(
            f"an alert was already issued for this case (it is {state.value}); "
            "update it or issue a new case",
            state=state,
            step=step,
        )
    if state in CLOSED:
        raise AlertTransitionError(
            f"the alert is closed ({state.value}); nothing more can be sent on it",
            state=state,
            step=step,
        )
    if step is AlertStep.DELIVER:
        return S.ACTIVE if state is S.ISSUED else state
    if step is AlertStep.WIDEN:
        return S.WIDENED
    if step is AlertStep.UPDATE:
        return S.UPDATED
    if step is AlertStep.SIGHTING:
        return state
    if reason is None:
        raise AlertTransitionError("a cancellation needs its reason", state=state, step=step)
    return END_OF[reason]


def allowed_steps(state: AlertState | None) -> list[str]:
    """The steps the table allows from `state`, for error messages."""
    out = []
    for step in AlertStep:
        try:
            next_state(state, step, CancelReason.FOUND)
        except AlertTransitionError:
            continue
        out.append(step.value)
    return out
