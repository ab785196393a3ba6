"""The referral lifecycle: FHIR Task status codes and the steps allowed between
them, as one table that the router, the agency SDK and HTTP intake all check.

Based on FHIR R4's Task state machine (http://hl7.org/fhir/task.html#statemachine),
without `draft` and `ready` (a referral is born `requested`; an agency that
accepts starts work itself). `cancelled` is the requester's (police or the
router) and never an agency's answer.
"""

from __future__ import annotations

from homeward.errors import ValidationError
from homeward.events.referrals import Outcome, RejectionReason, TaskStatus

S = TaskStatus

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.REQUESTED: frozenset({S.RECEIVED, S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.CANCELLED, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.FAILED, S.CANCELLED}),
    S.REJECTED: frozenset(),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# What an agency may answer; `requested` and `cancelled` belong to the requester.
AGENCY_ANSWERS = frozenset(S) - {S.REQUESTED, S.CANCELLED}
# The first answer stops the answer clock; completion (or an end) stops the other.
ANSWERED = frozenset(S) - {S.REQUESTED}
FINISHED = TERMINAL


class TransitionError(ValidationError):
    """A lifecycle step the table does not allow; names the field and the reason."""


def allowed(current: TaskStatus) -> list[str]:
    return sorted(s.value for s in TRANSITIONS[current])


def check_transition(current: TaskStatus, new: TaskStatus) -> None:
    if new not in TRANSITIONS[current]:
        options = allowed(current)
        after = f"allowed: {', '.join(options)}" if options else f"{current.value} is final"
        raise TransitionError(
            f"cannot go from {current.value} to {new.value} ({after})", field="status"
        )


def check_answer(
    status: TaskStatus, reason: RejectionReason | None, outcome: Outcome | None
) -> None:
    """The coded parts an answer must (and must not) carry."""
    if status not in AGENCY_ANSWERS:
        raise TransitionError(
            f"{status.value} is not an agency's answer "
            f"(one of: {', '.join(sorted(s.value for s in AGENCY_ANSWERS))})",
            field="status",
        )
    if status in (S.REJECTED, S.FAILED) and reason is None:
        raise TransitionError(f"{status.value} needs a coded reason", field="reason")
    if status not in (S.REJECTED, S.FAILED, S.ON_HOLD) and reason is not None:
        raise TransitionError("only rejected, failed or on-hold carry a reason", field="reason")
    if status == S.COMPLETED and outcome is None:
        raise TransitionError("completed needs a coded outcome", field="outcome")
    if status != S.COMPLETED and outcome is not None:
        raise TransitionError("only completed carries an outcome", field="outcome")


def step(
    current: TaskStatus,
    status: TaskStatus,
    reason: RejectionReason | None = None,
    outcome: Outcome | None = None,
) -> TaskStatus:
    """Check an agency's answer against the current status; return the new one."""
    check_answer(status, reason, outcome)
    check_transition(current, status)
    return status
