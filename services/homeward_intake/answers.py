"""The check intake makes before it publishes an agency's answer to a referral
(pure: the referral's state in, the topic or a typed refusal out).

The router re-checks everything and is the authority; this is the fast, clear
answer for an HTTP caller. The lifecycle table is homeward.lifecycle's, never
copied here.
"""

from __future__ import annotations

from homeward import lifecycle
from homeward.errors import HomewardError
from homeward.events import ReferralAnswered, TaskStatus
from homeward.topology import answer_topic_id
from homeward_intake.referral_view import ReferralState


class InvalidAnswer(HomewardError):
    """The answer is wrong in itself, whatever the referral's state (422):
    a status that is not an agency's to give, a missing coded reason or outcome."""


class ReferralNotFound(HomewardError):
    """No such referral in the router's log, read to its end just now (404)."""


class WrongAgency(HomewardError):
    """The answer comes from an agency the referral is not offered to (409)."""


class IllegalTransition(HomewardError):
    """The step from the referral's status is not in the lifecycle table (409)."""

    def __init__(self, reason: str, *, field: str | None, allowed: list[str]) -> None:
        super().__init__(reason, field=field)
        self.allowed = allowed


class ReferralsUnavailable(HomewardError):
    """The referral log could not be read up to now in time (503)."""


def agency_next(current: TaskStatus) -> list[str]:
    """The answers an agency may give next from `current`."""
    return [s for s in lifecycle.allowed(current) if TaskStatus(s) in lifecycle.AGENCY_ANSWERS]


def check(answer: ReferralAnswered, state: ReferralState | None, known: TaskStatus | None) -> str:
    """The topology id of the topic to publish `answer` to, or a typed refusal.

    `state` is the router's last record of the referral; `known` the status the
    answer is judged against (an answer published but not yet recorded, else
    the state's)."""
    try:
        lifecycle.check_answer(answer.status, answer.reason, answer.outcome)
    except lifecycle.TransitionError as exc:
        raise InvalidAnswer(exc.reason, field=exc.field) from None
    if state is None:
        raise ReferralNotFound(
            f"no referral {answer.referral_id} in case {answer.case_id}", field="referral_id"
        )
    if answer.agency_id != state.agency_id:
        # Not naming the agency it is offered to: the caller has no need to know.
        raise WrongAgency(
            f"referral {answer.referral_id} is not currently offered to this agency "
            f"(offer {state.offer})",
            field="agency_id",
        )
    current = known or state.status
    try:
        lifecycle.step(current, answer.status, answer.reason, answer.outcome)
    except lifecycle.TransitionError as exc:
        allowed = agency_next(current)
        after = f"allowed next: {', '.join(allowed)}" if allowed else f"{current.value} is final"
        raise IllegalTransition(
            f"cannot go from {current.value} to {answer.status.value} ({after})",
            field=exc.field or "status",
            allowed=allowed,
        ) from None
    return answer_topic_id(state.agency_type)
