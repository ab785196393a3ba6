"""The clocked rule of topology/referrals.yaml (Ninghe 二(二)5, Sichuan 13): a
rescued child whose family is not found after the family-search notice is
admitted and registered, and never raised by the buying family. Its referral
is offered the notice period after the notice's referral is completed, and
never when police record a DNA match first (the family is found)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homeward.errors import ConfigError
from homeward.events import ReferralRequested
from homeward_referrals.planner import (
    handle_answer,
    handle_family_found,
    handle_rescue,
    handle_tick,
)
from homeward_referrals.rules import parse_rules
from homeward_referrals.state import CaseState, to_ms
from tests.unit.referrals.world import T0, answer, rescue, router

ROUTER = router()
RULE = next(r for r in ROUTER.rules if r.id == "admission_registration")
NOTICE_DONE = timedelta(days=5)


def searched_in_vain() -> tuple[CaseState, str]:
    """A rescue, then the family-search notice's referral accepted and completed."""
    o = handle_rescue(None, rescue(), event_id="ev-rescue", event_time=T0, router=ROUTER)
    state = o.state
    assert isinstance(state, CaseState)
    assert "admission_registration" not in {
        q.event.rule_id for q in o.out if isinstance(q.event, ReferralRequested)
    }
    notice = next(r for r in state.referrals.values() if r.rule_id == "family_search_notice")
    for i, status in enumerate(("accepted", "in-progress", "completed")):
        extra = {"outcome": "service_provided"} if status == "completed" else {}
        handle_answer(
            state,
            answer(notice.referral_id, notice.agency_id or "", status, **extra),
            event_id=f"ev-answer-{i}",
            event_time=T0 + NOTICE_DONE,
            router=ROUTER,
        )
    return state, next(r.referral_id for r in state.referrals.values() if r.rule_id == RULE.id)


def offered(out: list) -> list[ReferralRequested]:
    return [o.event for o in out if isinstance(o.event, ReferralRequested)]


def test_the_default_period_is_the_notice_of_sixty_days_and_the_row_says_why() -> None:
    assert (RULE.after, RULE.wait, RULE.to.value) == (
        "family_search_notice",
        timedelta(days=60),
        "civil_affairs",
    )
    assert "buying family" in RULE.service and "Sichuan 13" in RULE.cites


def test_after_an_unsuccessful_search_the_child_is_referred_for_admission_and_registration() -> (
    None
):
    state, rid = searched_in_vain()
    due = T0 + NOTICE_DONE + RULE.wait
    assert state.next_wakeup_ms() is not None and state.next_wakeup_ms() <= to_ms(due)
    assert offered(handle_tick(state, now=due - timedelta(seconds=1), router=ROUTER).out) == []
    (request,) = offered(handle_tick(state, now=due, router=ROUTER).out)
    assert (request.referral_id, request.rule_id, request.agency_type) == (
        rid,
        RULE.id,
        "civil_affairs",
    )
    assert request.requested_at == due and request.answer_due == due + RULE.answer
    assert request.service == RULE.service
    # Offered once: a later tick (or the same one again) offers nothing more.
    assert offered(handle_tick(state, now=due + timedelta(hours=1), router=ROUTER).out) == []
    # The state survives the changelog.
    again = CaseState.from_json(state.to_json())
    assert again.referrals[rid].offer == 1 and not again.referrals[rid].waiting


def test_a_dna_match_first_means_the_family_is_found_and_nothing_is_offered() -> None:
    state, rid = searched_in_vain()
    handle_family_found(state)
    due = T0 + NOTICE_DONE + RULE.wait
    assert offered(handle_tick(state, now=due + timedelta(days=1), router=ROUTER).out) == []
    assert state.referrals[rid].dropped and state.referrals[rid].victim is None
    assert state.next_wakeup_ms() is None or state.next_wakeup_ms() < to_ms(due)


def test_without_a_completed_notice_the_period_never_starts() -> None:
    o = handle_rescue(None, rescue(), event_id="ev-rescue", event_time=T0, router=ROUTER)
    state = o.state
    assert isinstance(state, CaseState)
    later = T0 + timedelta(days=400)
    assert RULE.id not in {
        q.rule_id for q in offered(handle_tick(state, now=later, router=ROUTER).out)
    }


ROW = {
    "id": "admission",
    "service": "Admission",
    "to": "civil_affairs",
    "answer": "P1D",
    "complete": "P2D",
    "cites": "test",
}
NOTICE = {**ROW, "id": "notice", "service": "Notice"}


@pytest.mark.parametrize(
    ("after", "field", "says"),
    [
        ({"rule": "nowhere", "wait": "P60D"}, "rules[1].after.rule", "not clocked itself"),
        ({"rule": "notice", "wait": "sixty days"}, "rules[1].after.wait", "ISO 8601"),
        ({"rule": "notice", "wait": "PT0S"}, "rules[1].after.wait", "longer than zero"),
        ({"rule": "notice"}, "rules[1].after", "{rule: <row id>, wait:"),
        ("notice", "rules[1].after", "{rule: <row id>, wait:"),
    ],
)
def test_a_wrong_clocked_row_is_refused_naming_the_field(
    after: object, field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules({"rules": [NOTICE, {**ROW, "after": after}]})
    assert info.value.field == field and says in info.value.reason
    assert info.value.reason.startswith("rule 'admission': ")
