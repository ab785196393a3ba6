"""Property-based referral lifecycle on the real broker: random sequences of
answers (legal and not, from the agency holding the referral and from one
that does not) to one referral; the router's log shows exactly the steps
homeward.lifecycle allows, the re-offer after a rejection and the
escalation when nobody is left. One router serves every example; each
example is its own case."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeward.events import (
    Outcome,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralStatusChanged,
    RejectionReason,
    TaskStatus,
)
from homeward.lifecycle import TransitionError, step
from tests.integration.test_referrals import Router, new_case, request_for, router
from tests.unit.referrals.world import T, answer, ids, person, rescue

pytestmark = pytest.mark.integration
S = TaskStatus
J1, J2, _ = ids(T.JUSTICE)  # the two justice bureaux within reach, nearest first
__all__ = ["router"]  # the module's router fixture


@dataclass(frozen=True)
class Answer:
    holder: bool  # from the agency that holds the referral now, or from the other one
    status: TaskStatus
    reason: RejectionReason | None
    outcome: Outcome | None


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    status = draw(st.sampled_from(list(TaskStatus)))
    if draw(st.integers(0, 4)):  # mostly coded as the lifecycle asks; sometimes not
        needs_reason = status in (S.REJECTED, S.FAILED) or (
            status == S.ON_HOLD and draw(st.booleans())
        )
        reason = draw(st.sampled_from(list(RejectionReason))) if needs_reason else None
        outcome = draw(st.sampled_from(list(Outcome))) if status == S.COMPLETED else None
    else:
        reason = draw(st.none() | st.sampled_from(list(RejectionReason)))
        outcome = draw(st.none() | st.sampled_from(list(Outcome)))
    return Answer(draw(st.integers(0, 5)) > 0, status, reason, outcome)


class Model:
    """What the log must show, from homeward.lifecycle and the re-offer rule."""

    def __init__(self) -> None:
        self.status, self.holder, self.offer = S.REQUESTED, J1, 1
        self.escalated = False
        self.log: list[tuple[object, ...]] = [("requested", J1, 1)]

    def who(self, a: Answer) -> str:
        other = J2 if self.holder == J1 else J1
        return self.holder if a.holder else other

    def answered(self, a: Answer, agency: str, eid: str) -> None:
        if self.escalated or agency != self.holder:
            self.log.append(("refused", eid))
            return
        try:
            new = step(self.status, a.status, a.reason, a.outcome)
        except TransitionError:
            self.log.append(("refused", eid))
            return
        self.log.append(("changed", eid, self.status, new, self.offer))
        self.status = new
        if new != S.REJECTED:
            return
        if self.offer == 1:
            self.status, self.holder, self.offer = S.REQUESTED, J2, 2
            self.log.append(("requested", J2, 2))
        else:
            self.escalated = True
            self.log.append(("escalated", 2))


def observed(router: Router, case: str, referral_id: str) -> list[tuple[object, ...]]:
    log: list[tuple[object, ...]] = []
    for e in router.of(case, object, "referral_events"):
        if getattr(e, "referral_id", None) != referral_id:
            continue
        if isinstance(e, ReferralAnswerRefused):
            log.append(("refused", e.answer_event_id))
        elif isinstance(e, ReferralStatusChanged) and e.previous_status is None:
            log.append(("requested", e.agency_id, e.offer))
        elif isinstance(e, ReferralStatusChanged):
            log.append(("changed", e.answer_event_id, e.previous_status, e.status, e.offer))
        elif isinstance(e, ReferralEscalated):
            log.append(("escalated", e.offers))
    return log


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(answers(), min_size=1, max_size=8))
def test_the_log_shows_exactly_the_legal_steps(router: Router, sequence: list[Answer]) -> None:
    case = new_case("PROP")
    # An adult with guardians and means: only the rows every victim gets.
    router.publish("rescues", rescue(case, person(age_years=30, guardians_known=True)))
    rid = request_for(router, case, "legal_aid").referral_id
    expected = Model()
    for a in sequence:
        agency = expected.who(a)
        eid = router.publish(
            "referral_answers",
            answer(rid, agency, a.status, case, reason=a.reason, outcome=a.outcome),
        )
        expected.answered(a, agency, eid)
    # Answers are handled in order on the case's partition: once a record
    # after them is dead-lettered, the log holds all they set off.
    router.barrier("referral_answers", case)
    assert observed(router, case, rid) == expected.log
