"""Deadlines judged as of a tick's `now`: referral answer and completion
deadlines, and the mandatory-report acknowledgement clock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from homeward.errors import ValidationError
from homeward.events import (
    Outcome,
    ReferralOverdue,
    RejectionReason,
    ReportAcknowledged,
    ReportOverdue,
    TaskStatus,
)
from homeward_referrals.planner import (
    handle_answer,
    handle_report,
    handle_report_ack,
    handle_report_tick,
    handle_rescue,
    handle_tick,
)
from homeward_referrals.rules import load_rules
from homeward_referrals.state import CaseState, ReportState, to_ms
from tests.unit.referrals.world import (
    POLICE_DESK,
    REPORTER_CANARY,
    T0,
    T,
    answer,
    ids,
    person,
    report,
    rescue,
    router,
)

S = TaskStatus
# Only legal aid, with short deadlines, so each test follows one referral.
ROUTER = router(rules=load_rules(deadlines="legal_aid=PT1H/PT5H"))
H = timedelta(hours=1)


def one_referral() -> tuple[CaseState, str]:
    o = handle_rescue(None, rescue(), event_id="r1", event_time=T0, router=ROUTER)
    assert isinstance(o.state, CaseState)
    rid = next(r.referral_id for r in o.state.referrals.values() if r.rule_id == "legal_aid")
    return o.state, rid


def tick(state: CaseState, at: timedelta) -> list[ReferralOverdue]:
    out = handle_tick(state, now=T0 + at, router=ROUTER).out
    legal = [o for o in out if getattr(o.event, "rule_id", "") == "legal_aid"]
    assert all(isinstance(o.event, ReferralOverdue) for o in legal)
    assert [(o.topic, o.key) for o in legal][:2] in (
        [],
        [("inbox.coordination_office", "OFF-1"), ("referral_events", "CASE-R-1")],
    )
    return [o.event for o in legal if o.topic == "referral_events"]  # type: ignore[misc]


def test_unanswered_past_the_answer_deadline_is_overdue_once() -> None:
    state, rid = one_referral()
    assert tick(state, H) == []  # on the deadline is not past it
    assert state.next_wakeup_ms() == to_ms(T0 + H) + 1
    (late,) = tick(state, H + timedelta(seconds=1))
    assert (late.phase, late.status, late.due_at, late.agency_id, late.offer) == (
        "answer",
        S.REQUESTED,
        T0 + H,
        ids(T.JUSTICE)[0],
        1,
    )
    assert late.service == "Priority legal aid" and late.referral_id == rid
    assert tick(state, 2 * H) == []  # once
    (unfinished,) = tick(state, 5 * H + timedelta(seconds=1))
    assert (unfinished.phase, unfinished.due_at) == ("completion", T0 + 5 * H)
    assert tick(state, 100 * H) == []


def test_an_answered_referral_is_never_overdue_for_its_answer() -> None:
    state, rid = one_referral()
    handle_answer(
        state,
        answer(rid, ids(T.JUSTICE)[0], S.ACCEPTED),
        event_id="a1",
        event_time=T0 + timedelta(minutes=10),
        router=ROUTER,
    )
    assert [o.phase for o in tick(state, 2 * H)] == []
    assert [o.phase for o in tick(state, 6 * H)] == ["completion"]


@pytest.mark.parametrize(
    ("status", "kw"),
    [(S.COMPLETED, {"outcome": Outcome.SERVICE_PROVIDED}), (S.FAILED, {"reason": "other"})],
)
def test_a_finished_referral_is_never_overdue(status: TaskStatus, kw: dict[str, str]) -> None:
    state, rid = one_referral()
    j1 = ids(T.JUSTICE)[0]
    for i, s in enumerate([S.ACCEPTED, S.IN_PROGRESS, status]):
        handle_answer(
            state,
            answer(rid, j1, s, **(kw if s == status else {})),
            event_id=f"a{i}",
            event_time=T0 + timedelta(minutes=i),
            router=ROUTER,
        )
    assert tick(state, 10 * H) == []
    assert state.referrals[rid].due_phases() == []


def test_an_answer_that_came_too_late_is_overdue_though_no_tick_came() -> None:
    state, rid = one_referral()
    j1 = ids(T.JUSTICE)[0]
    out = handle_answer(
        state, answer(rid, j1, S.RECEIVED), event_id="a1", event_time=T0 + 2 * H, router=ROUTER
    ).out
    late = [o.event for o in out if isinstance(o.event, ReferralOverdue)]
    assert [(o.phase, o.status) for o in late] == [("answer", S.REQUESTED)] * 2  # office, log
    assert tick(state, 3 * H) == []  # not again
    assert [o.phase for o in tick(state, 6 * H)] == ["completion"]


def test_a_re_offer_gets_its_own_deadlines_and_its_own_overdue_notices() -> None:
    state, rid = one_referral()
    (first,) = tick(state, 2 * H)
    handle_answer(
        state,
        answer(rid, ids(T.JUSTICE)[0], S.REJECTED, reason=RejectionReason.NO_CAPACITY),
        event_id="a1",
        event_time=T0 + 3 * H,
        router=ROUTER,
    )
    assert tick(state, 4 * H) == []  # the new offer is due at 3 h + 1 h
    (second,) = tick(state, 4 * H + timedelta(seconds=1))
    assert (second.offer, second.agency_id, second.phase) == (2, ids(T.JUSTICE)[1], "answer")
    assert second.due_at == T0 + 4 * H and first.offer == 1


def test_overdue_ids_are_derived_so_a_replayed_tick_writes_the_same_records() -> None:
    a, _ = one_referral()
    b, _ = one_referral()
    out_a = handle_tick(a, now=T0 + 10 * H, router=ROUTER).out
    out_b = handle_tick(b, now=T0 + 11 * H, router=ROUTER).out
    assert [o.event_id for o in out_a] == [o.event_id for o in out_b] != []


def test_a_tick_for_a_case_without_state_does_nothing() -> None:
    o = handle_tick(None, now=T0, router=ROUTER)
    assert o.state is None and o.out == []


def test_escalated_referrals_have_no_deadlines() -> None:
    o = handle_rescue(None, rescue(where=(45.0, 125.0)), event_id="r", event_time=T0, router=ROUTER)
    assert isinstance(o.state, CaseState)
    assert o.state.next_wakeup_ms() is None
    assert handle_tick(o.state, now=T0 + 1000 * H, router=ROUTER).out == []


# -- mandatory reports ----------------------------------------------------------


def filed() -> ReportState:
    o = handle_report(None, report(), event_id="rep-ev-1", event_time=T0, router=ROUTER)
    assert isinstance(o.state, ReportState) and o.out == []
    return o.state


def test_a_report_keeps_only_its_clock() -> None:
    state = filed()
    doc = state.to_json()
    assert set(doc) == {
        "report_id",
        "event_id",
        "sector",
        "filed_ms",
        "due_ms",
        "area",
        "lat",
        "lon",
        "acknowledged",
        "overdue_sent",
    }
    text = json.dumps(doc)
    for secret in (
        REPORTER_CANARY,
        "Teacher",
        "Test Child 8",
        "took her away",
        "+86",
        "Fictional Primary School",
        "990101001",
    ):
        assert secret not in text
    assert doc["due_ms"] == to_ms(T0 + H) and doc["area"] == "990101"


def test_an_unacknowledged_report_is_overdue_once_to_the_nearest_office() -> None:
    state = filed()
    assert handle_report_tick(state, now=T0 + H, router=ROUTER).out == []
    out = handle_report_tick(state, now=T0 + 2 * H, router=ROUTER).out
    assert [(o.topic, o.key) for o in out] == [
        ("inbox.coordination_office", "OFF-1"),
        ("referral_events", "REP-1"),
    ]
    late = out[0].event
    assert isinstance(late, ReportOverdue)
    assert (late.sector.value, late.filed_at, late.due_at, late.area) == (
        "education",
        T0,
        T0 + H,
        "990101",
    )
    assert REPORTER_CANARY not in late.model_dump_json()
    assert out[0].causation_id == "rep-ev-1"
    assert handle_report_tick(state, now=T0 + 3 * H, router=ROUTER).out == []
    assert state.next_wakeup_ms() is None


def test_a_report_acknowledged_in_time_is_never_overdue() -> None:
    state = filed()
    ack = ReportAcknowledged(
        case_id="REP-1",
        police_unit="Sampleville Police Unit",
        agency_id="POL-1",
        actor=POLICE_DESK,
    )
    assert handle_report_ack(state, ack, event_time=T0 + H, router=ROUTER).out == []  # on time
    assert handle_report_tick(state, now=T0 + 5 * H, router=ROUTER).out == []
    assert state.next_wakeup_ms() is None


def test_an_acknowledgement_that_came_too_late_is_overdue_though_no_tick_came() -> None:
    state = filed()
    ack = ReportAcknowledged(
        case_id="REP-1",
        police_unit="Sampleville Police Unit",
        agency_id="POL-1",
        actor=POLICE_DESK,
    )
    out = handle_report_ack(state, ack, event_time=T0 + 2 * H, router=ROUTER).out
    assert [type(o.event).__name__ for o in out] == ["ReportOverdue", "ReportOverdue"]
    again = handle_report_ack(state, ack, event_time=T0 + 3 * H, router=ROUTER)
    assert again.out == [] and handle_report_tick(state, now=T0 + 9 * H, router=ROUTER).out == []


def test_report_acknowledgement_window_is_a_setting() -> None:
    quick = router(report_ack=timedelta(minutes=5))
    o = handle_report(None, report(), event_id="e", event_time=T0, router=quick)
    assert isinstance(o.state, ReportState) and o.state.due_ms == to_ms(T0) + 300_000


def test_duplicate_and_conflicting_reports_and_stray_acknowledgements() -> None:
    state = filed()
    again = handle_report(state, report(), event_id="rep-ev-1", event_time=T0, router=ROUTER)
    assert again.state is state and again.out == []
    with pytest.raises(ValidationError) as caught:
        handle_report(state, report(), event_id="rep-ev-2", event_time=T0, router=ROUTER)
    assert caught.value.field == "case_id"
    ack = ReportAcknowledged(
        case_id="REP-9",
        police_unit="Sampleville Police Unit",
        agency_id="POL-1",
        actor=POLICE_DESK,
    )
    with pytest.raises(ValidationError):
        handle_report_ack(None, ack, event_time=T0, router=ROUTER)


def test_persons_outside_a_rule_get_no_referral_for_it() -> None:
    adult = person(age_years=40, guardians_known=True)
    o = handle_rescue(None, rescue(who=adult), event_id="r", event_time=T0, router=ROUTER)
    assert isinstance(o.state, CaseState)
    assert {r.rule_id for r in o.state.referrals.values()} == {
        "psychological_care",
        "legal_aid",
        "special_file",
        "vocational_training",
    }
