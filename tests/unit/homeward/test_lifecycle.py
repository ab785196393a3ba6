"""The referral lifecycle (homeward.lifecycle): FHIR Task statuses, the steps
allowed between them, and the coded reason and outcome an answer carries."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from homeward.errors import ValidationError
from homeward.events import Outcome, RejectionReason, TaskStatus
from homeward.lifecycle import (
    AGENCY_ANSWERS,
    ANSWERED,
    FINISHED,
    TERMINAL,
    TRANSITIONS,
    TransitionError,
    allowed,
    check_answer,
    check_transition,
    step,
)

S = TaskStatus
# The contract, written out from FHIR R4's Task state machine
# (http://hl7.org/fhir/task.html#statemachine) without draft and ready: this
# is what the table in homeward.lifecycle must say, pair by pair.
SPEC = {
    (S.REQUESTED, S.RECEIVED),
    (S.REQUESTED, S.ACCEPTED),
    (S.REQUESTED, S.REJECTED),
    (S.REQUESTED, S.CANCELLED),
    (S.RECEIVED, S.ACCEPTED),
    (S.RECEIVED, S.REJECTED),
    (S.RECEIVED, S.CANCELLED),
    (S.ACCEPTED, S.IN_PROGRESS),
    (S.ACCEPTED, S.CANCELLED),
    (S.ACCEPTED, S.FAILED),
    (S.IN_PROGRESS, S.ON_HOLD),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.IN_PROGRESS, S.FAILED),
    (S.IN_PROGRESS, S.CANCELLED),
    (S.ON_HOLD, S.IN_PROGRESS),
    (S.ON_HOLD, S.FAILED),
    (S.ON_HOLD, S.CANCELLED),
}
PAIRS = list(itertools.product(S, S))
ALLOWED = [p for p in PAIRS if p in SPEC]
REFUSED = [p for p in PAIRS if p not in SPEC]


def codes(status: TaskStatus) -> dict[str, RejectionReason | Outcome]:
    """The coded parts an answer of `status` needs."""
    if status in (S.REJECTED, S.FAILED):
        return {"reason": RejectionReason.NO_CAPACITY}
    if status == S.COMPLETED:
        return {"outcome": Outcome.SERVICE_PROVIDED}
    return {}


def name(pair: tuple[TaskStatus, TaskStatus]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


# -- the table -----------------------------------------------------------------
def test_the_table_is_fhirs_and_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {(a, b) for a, nxt in TRANSITIONS.items() for b in nxt} == SPEC


def test_the_final_statuses() -> None:
    assert {S.REJECTED, S.COMPLETED, S.CANCELLED, S.FAILED} == TERMINAL == FINISHED
    assert set(S) - {S.REQUESTED} == ANSWERED
    # requested and cancelled are the requester's, never an agency's answer.
    assert set(S) - {S.REQUESTED, S.CANCELLED} == AGENCY_ANSWERS


@pytest.mark.parametrize("pair", ALLOWED, ids=name)
def test_every_allowed_step_passes(pair: tuple[TaskStatus, TaskStatus]) -> None:
    current, new = pair
    check_transition(current, new)
    assert new.value in allowed(current)
    if new in AGENCY_ANSWERS:
        assert step(current, new, **codes(new)) is new  # type: ignore[arg-type]
    else:
        # A cancellation is the requester's: allowed in the table, never an answer.
        with pytest.raises(TransitionError) as caught:
            step(current, new)
        assert caught.value.field == "status"


@pytest.mark.parametrize("pair", REFUSED, ids=name)
def test_every_other_pair_is_refused_naming_status(pair: tuple[TaskStatus, TaskStatus]) -> None:
    current, new = pair
    with pytest.raises(TransitionError) as caught:
        check_transition(current, new)
    assert caught.value.field == "status"
    assert current.value in caught.value.reason and new.value in caught.value.reason
    with pytest.raises(TransitionError) as caught:
        step(current, new, **codes(new))  # type: ignore[arg-type]
    assert caught.value.field == "status"


def test_a_transition_error_is_a_validation_error_with_a_clear_message() -> None:
    with pytest.raises(ValidationError) as caught:
        step(S.REQUESTED, S.COMPLETED, outcome=Outcome.SERVICE_PROVIDED)
    assert isinstance(caught.value, TransitionError)
    assert str(caught.value) == (
        "status: cannot go from requested to completed "
        "(allowed: accepted, cancelled, received, rejected)"
    )


@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_a_final_status_says_so(final: TaskStatus) -> None:
    assert allowed(final) == []
    with pytest.raises(TransitionError) as caught:
        check_transition(final, S.IN_PROGRESS)
    assert f"{final.value} is final" in caught.value.reason


# -- coded reasons and outcomes ------------------------------------------------
@pytest.mark.parametrize("status", [S.REJECTED, S.FAILED])
def test_rejected_and_failed_need_a_coded_reason(status: TaskStatus) -> None:
    with pytest.raises(TransitionError) as caught:
        check_answer(status, None, None)
    assert caught.value.field == "reason"
    for reason in RejectionReason:
        check_answer(status, reason, None)


def test_completed_needs_a_coded_outcome() -> None:
    with pytest.raises(TransitionError) as caught:
        step(S.IN_PROGRESS, S.COMPLETED)
    assert caught.value.field == "outcome"
    for outcome in Outcome:
        assert step(S.IN_PROGRESS, S.COMPLETED, outcome=outcome) is S.COMPLETED


def test_on_hold_may_carry_a_reason() -> None:
    assert step(S.IN_PROGRESS, S.ON_HOLD) is S.ON_HOLD
    assert step(S.IN_PROGRESS, S.ON_HOLD, reason=RejectionReason.UNREACHABLE) is S.ON_HOLD


@pytest.mark.parametrize(
    "status", sorted(AGENCY_ANSWERS - {S.REJECTED, S.FAILED, S.ON_HOLD}), ids=str
)
def test_no_other_answer_carries_a_reason(status: TaskStatus) -> None:
    with pytest.raises(TransitionError) as caught:
        check_answer(
            status, RejectionReason.OTHER, None if status != S.COMPLETED else Outcome.NOT_NEEDED
        )
    assert caught.value.field == "reason"


@pytest.mark.parametrize("status", sorted(AGENCY_ANSWERS - {S.COMPLETED}), ids=str)
def test_only_completed_carries_an_outcome(status: TaskStatus) -> None:
    with pytest.raises(TransitionError) as caught:
        check_answer(status, codes(status).get("reason"), Outcome.SERVICE_PROVIDED)  # type: ignore[arg-type]
    assert caught.value.field == "outcome"


@pytest.mark.parametrize("status", [S.REQUESTED, S.CANCELLED])
def test_requested_and_cancelled_are_not_answers(status: TaskStatus) -> None:
    with pytest.raises(TransitionError) as caught:
        check_answer(status, None, None)
    assert caught.value.field == "status"
    assert "not an agency's answer" in caught.value.reason


# -- random sequences ------------------------------------------------------------
ANSWER = st.tuples(
    st.sampled_from(list(S)),
    st.none() | st.sampled_from(list(RejectionReason)),
    st.none() | st.sampled_from(list(Outcome)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANSWER, max_size=30))
def test_replaying_any_sequence_stays_inside_the_table(
    answers: list[tuple[TaskStatus, RejectionReason | None, Outcome | None]],
) -> None:
    current = S.REQUESTED
    path = [current]
    for status, reason, outcome in answers:
        try:
            new = step(current, status, reason, outcome)
        except TransitionError as exc:
            assert exc.field in ("status", "reason", "outcome")
            # A final status accepts nothing; a refused step changes nothing.
            continue
        assert current not in TERMINAL
        assert (current, new) in SPEC
        assert new in AGENCY_ANSWERS
        current = new
        path.append(current)
    assert all(p in TRANSITIONS for p in path)
    assert all((a, b) in SPEC for a, b in itertools.pairwise(path))
    # Once final, always final: nothing after it in the path.
    finals = [i for i, p in enumerate(path) if p in TERMINAL]
    assert not finals or finals[0] == len(path) - 1


class ReferralMachine(RuleBasedStateMachine):
    """One referral's life under random answers and requester cancellations."""

    def __init__(self) -> None:
        super().__init__()
        self.current = S.REQUESTED
        self.finished = False

    @rule(answer=ANSWER)
    def agency_answers(
        self, answer: tuple[TaskStatus, RejectionReason | None, Outcome | None]
    ) -> None:
        status, reason, outcome = answer
        before = self.current
        try:
            self.current = step(before, status, reason, outcome)
        except TransitionError as exc:
            assert exc.field in ("status", "reason", "outcome")
            assert self.current is before
            return
        assert not self.finished, f"{before.value} is final but accepted {status.value}"
        assert (before, self.current) in SPEC

    @rule()
    def requester_cancels(self) -> None:
        try:
            check_transition(self.current, S.CANCELLED)
        except TransitionError as exc:
            assert exc.field == "status"
            assert self.current in TERMINAL
            return
        self.current = S.CANCELLED

    @invariant()
    def stays_in_the_table(self) -> None:
        assert self.current in TRANSITIONS
        if self.current in TERMINAL:
            self.finished = True
            assert not TRANSITIONS[self.current]
            for status in S:
                with pytest.raises(TransitionError):
                    step(self.current, status, **codes(status))  # type: ignore[arg-type]


TestReferralMachine = ReferralMachine.TestCase
TestReferralMachine.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
