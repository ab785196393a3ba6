"""The router's decisions on rescues and answers, without a broker."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from homeward.errors import ValidationError
from homeward.events import (
    AlertCancelled,
    CancelReason,
    Classification,
    Outcome,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralRequested,
    ReferralStatusChanged,
    RejectionReason,
    TaskStatus,
)
from homeward.geo import haversine_km
from homeward.projections import default_projections
from homeward_referrals.planner import Outbound, handle_answer, handle_rescue
from homeward_referrals.rules import load_rules
from homeward_referrals.state import CaseState
from tests.unit.referrals.world import (
    AGENCIES,
    CENTRE,
    DNA_CANARY,
    NOTE_CANARY,
    REMOTE,
    T0,
    T,
    answer,
    ids,
    person,
    rescue,
    router,
)

ROUTER = router()
S = TaskStatus


def rescued(
    r: Any = None, event_id: str = "ev-rescue-1", state: CaseState | None = None
) -> tuple[CaseState, list[Outbound]]:
    o = handle_rescue(state, r or rescue(), event_id=event_id, event_time=T0, router=ROUTER)
    assert isinstance(o.state, CaseState)
    return o.state, o.out


def requests(out: list[Outbound]) -> list[ReferralRequested]:
    return [o.event for o in out if isinstance(o.event, ReferralRequested)]


def logged(out: list[Outbound], kind: type = ReferralStatusChanged) -> list[Any]:
    return [o.event for o in out if o.topic == "referral_events" and isinstance(o.event, kind)]


def referral_of(state: CaseState, rule_id: str) -> str:
    return next(r.referral_id for r in state.referrals.values() if r.rule_id == rule_id)


def answered(
    state: CaseState, rid: str, agency: str, status: str, eid: str, at: timedelta, **kw: Any
) -> list[Outbound]:
    o = handle_answer(
        state,
        answer(rid, agency, status, **kw),
        event_id=eid,
        event_time=T0 + at,
        router=ROUTER,
    )
    return o.out


# -- rescue -------------------------------------------------------------------


def test_a_rescue_refers_each_matching_rule_to_the_nearest_agency_of_its_type() -> None:
    r = rescue()
    state, out = rescued(r)
    rules = {x.id: x for x in load_rules()}
    matching = load_rules().matching(r.person)
    expected = [x.id for x in matching if x.after is None]  # clocked rows wait (test_clocked)
    got = requests(out)
    assert [q.rule_id for q in got] == expected
    for q, ob in zip(got, [o for o in out if isinstance(o.event, ReferralRequested)], strict=True):
        rule = rules[q.rule_id]
        near = min(
            (a for a in AGENCIES if a.type == rule.to),
            key=lambda a: haversine_km(*CENTRE, a.latitude, a.longitude),
        )
        assert q.agency_id == near.id == ids(rule.to)[0]
        assert ob.key == near.id and ob.topic == f"inbox.{rule.to.value}"
        assert (q.offer, q.requested_at, q.service, q.cites) == (1, T0, rule.service, rule.cites)
        assert q.answer_due == T0 + rule.answer and q.complete_due == T0 + rule.complete
        assert q.victim == default_projections().victim_profile(r, rule.to.value)
        assert ob.causation_id == "ev-rescue-1"
        police = rule.to == T.POLICE
        assert ob.classification == (Classification.POLICE_ONLY if police else None)
    changes = logged(out)
    assert [(c.referral_id, c.previous_status, c.status, c.offer) for c in changes] == [
        (q.referral_id, None, S.REQUESTED, 1) for q in got
    ]
    assert all(o.key == "CASE-R-1" for o in out if o.topic == "referral_events")
    assert not any(isinstance(o.event, AlertCancelled) for o in out)
    assert len(state.referrals) == len(matching)


def test_referral_and_event_ids_are_derived_from_the_rescue_and_rule() -> None:
    _, first = rescued()
    _, again = rescued()  # the same input handled afresh (a crash before the state was saved)
    assert [(o.event_id, o.topic, o.key) for o in first] == [
        (o.event_id, o.topic, o.key) for o in again
    ]
    assert len({o.event_id for o in first}) == len(first)
    _, other = rescued(event_id="ev-rescue-2")
    assert {q.referral_id for q in requests(first)}.isdisjoint(
        q.referral_id for q in requests(other)
    )


def test_a_repeated_rescue_event_changes_nothing() -> None:
    state, _ = rescued()
    before = json.dumps(state.to_json())
    again, out = rescued(state=state)
    assert out == [] and json.dumps(again.to_json()) == before


def test_closes_alert_cancels_the_alert_as_found_through_the_alert_stream() -> None:
    _, out = rescued(rescue(closes_alert=True))
    (cancel,) = [o for o in out if isinstance(o.event, AlertCancelled)]
    assert cancel.topic == "alert_events" and cancel.key == "CASE-R-1"
    assert cancel.event.reason == CancelReason.FOUND and cancel.event.note == ""
    assert cancel.causation_id == "ev-rescue-1"
    _, again = rescued(rescue(closes_alert=True))
    assert [o.event_id for o in again if isinstance(o.event, AlertCancelled)] == [cancel.event_id]


def test_no_agency_of_the_type_within_reach_escalates_to_the_nearest_office() -> None:
    state, out = rescued(rescue(where=REMOTE))
    assert requests(out) == []
    escalated = [o for o in out if isinstance(o.event, ReferralEscalated)]
    matching = [r for r in load_rules().matching(person()) if r.after is None]
    assert len(escalated) == 2 * len(matching)  # the office's copy and the log's
    for o in escalated:
        assert o.event.offers == 0 and o.event.last_reason is None
        assert (o.topic, o.key) in {
            ("inbox.coordination_office", "OFF-3"),
            ("referral_events", "CASE-R-1"),
        }
    # A clocked row waits for its period (test_clocked_rule.py); the rest escalated.
    assert all(r.escalated and r.victim is None for r in state.referrals.values() if not r.after)


def test_reach_is_the_max_km_setting() -> None:
    near_only = router(max_km=11.0)
    o = handle_rescue(None, rescue(), event_id="e", event_time=T0, router=near_only)
    assert {q.agency_id for q in requests(o.out)} == {"POL-1"}  # police at 10 km only
    assert {e.event.rule_id for e in o.out if isinstance(e.event, ReferralEscalated)} == {
        r.id for r in load_rules().matching(person()) if r.to != T.POLICE and r.after is None
    }


# -- answers ------------------------------------------------------------------


def test_legal_answers_are_logged_with_their_codes_and_never_the_note() -> None:
    state, _ = rescued()
    rid = referral_of(state, "legal_aid")
    j1 = ids(T.JUSTICE)[0]
    steps = [
        ("a1", S.RECEIVED, {}),
        ("a2", S.ACCEPTED, {}),
        ("a3", S.IN_PROGRESS, {}),
        ("a4", S.ON_HOLD, {"reason": RejectionReason.UNREACHABLE}),
        ("a5", S.IN_PROGRESS, {}),
        ("a6", S.COMPLETED, {"outcome": Outcome.SERVICE_PROVIDED}),
    ]
    previous = S.REQUESTED
    for i, (eid, status, kw) in enumerate(steps):
        out = answered(state, rid, j1, status, eid, timedelta(hours=i), **kw)
        (change,) = logged(out)
        assert len(out) == 1 and out[0].topic == "referral_events"
        assert (change.previous_status, change.status, change.answer_event_id) == (
            previous,
            status,
            eid,
        )
        assert change.reason == kw.get("reason") and change.outcome == kw.get("outcome")
        assert change.changed_at == T0 + timedelta(hours=i) and change.agency_id == j1
        assert NOTE_CANARY not in change.model_dump_json()
        previous = status
    assert state.referrals[rid].victim is None  # done: no re-offer can need it
    assert NOTE_CANARY not in json.dumps(state.to_json())


def test_a_rejection_is_re_offered_to_the_next_nearest_then_escalated() -> None:
    state, _ = rescued()
    rid = referral_of(state, "legal_aid")
    j1, j2, j3 = ids(T.JUSTICE)  # j3 is beyond reach
    out = answered(
        state, rid, j1, S.REJECTED, "a1", timedelta(hours=2), reason=RejectionReason.NO_CAPACITY
    )
    (rejected, requested) = logged(out)
    assert (rejected.previous_status, rejected.status, rejected.reason) == (
        S.REQUESTED,
        S.REJECTED,
        RejectionReason.NO_CAPACITY,
    )
    assert (requested.previous_status, requested.status, requested.agency_id, requested.offer) == (
        None,
        S.REQUESTED,
        j2,
        2,
    )
    (offer,) = requests(out)
    rule = load_rules().get("legal_aid")
    assert rule is not None
    assert (offer.referral_id, offer.agency_id, offer.offer) == (rid, j2, 2)
    assert offer.requested_at == T0 + timedelta(hours=2)
    assert offer.answer_due == T0 + timedelta(hours=2) + rule.answer
    assert offer.complete_due == T0 + timedelta(hours=2) + rule.complete
    assert offer.victim == default_projections().victim_profile(rescue(), "justice")
    assert [o.causation_id for o in out] == ["a1", "a1", "a1"]
    # The first agency no longer holds it.
    (refused,) = logged(
        answered(state, rid, j1, S.ACCEPTED, "a2", timedelta(hours=3)), ReferralAnswerRefused
    )
    assert refused.reason == "the referral is not offered to this agency"
    # Received, then rejected again: nobody is left within reach (j3 is not asked).
    answered(state, rid, j2, S.RECEIVED, "a3", timedelta(hours=4))
    out = answered(
        state, rid, j2, S.REJECTED, "a4", timedelta(hours=5), reason=RejectionReason.OUT_OF_AREA
    )
    assert requests(out) == [] and j3 not in state.referrals[rid].offered
    escalated = [o for o in out if isinstance(o.event, ReferralEscalated)]
    assert [(o.topic, o.key) for o in escalated] == [
        ("inbox.coordination_office", "OFF-1"),
        ("referral_events", "CASE-R-1"),
    ]
    assert escalated[0].event.offers == 2
    assert escalated[0].event.last_reason == RejectionReason.OUT_OF_AREA
    assert state.referrals[rid].victim is None and state.referrals[rid].escalated
    (late,) = logged(
        answered(state, rid, j2, S.ACCEPTED, "a5", timedelta(hours=6)), ReferralAnswerRefused
    )
    assert late.reason == "the referral is not offered to this agency"


def test_police_referrals_are_re_offered_in_order_of_distance() -> None:
    state, _ = rescued()
    rid = referral_of(state, "dna_sampling")
    p1, p2, _ = ids(T.POLICE)
    out = answered(state, rid, p1, S.REJECTED, "a1", timedelta(0), reason=RejectionReason.OTHER)
    (offer,) = [o for o in out if isinstance(o.event, ReferralRequested)]
    assert (offer.key, offer.topic, offer.classification) == (
        p2,
        "inbox.police",
        Classification.POLICE_ONLY,
    )


@pytest.mark.parametrize(
    ("status", "kw", "field"),
    [
        (S.COMPLETED, {"outcome": Outcome.SERVICE_PROVIDED}, "status"),
        (S.IN_PROGRESS, {}, "status"),
        (S.REJECTED, {}, "reason"),
        (S.ACCEPTED, {"reason": RejectionReason.OTHER}, "reason"),
        (S.CANCELLED, {}, "status"),
        (S.REQUESTED, {}, "status"),
    ],
)
def test_an_illegal_step_is_refused_to_the_agency_and_logged(
    status: TaskStatus, kw: dict[str, Any], field: str
) -> None:
    state, _ = rescued()
    rid = referral_of(state, "psychological_care")
    h1 = ids(T.HEALTH)[0]
    out = answered(state, rid, h1, status, "bad-1", timedelta(0), **kw)
    assert [(o.topic, o.key) for o in out] == [
        ("inbox.health", h1),
        ("referral_events", "CASE-R-1"),
    ]
    refused = out[0].event
    assert isinstance(refused, ReferralAnswerRefused) and out[1].event == refused
    assert refused.status == status.value and refused.current_status == S.REQUESTED
    assert refused.reason.startswith(f"{field}: ") and refused.answer_event_id == "bad-1"
    assert out[0].event_id == out[1].event_id
    assert state.referrals[rid].status == "requested"
    assert answered(state, rid, h1, status, "bad-1", timedelta(0), **kw) == []  # duplicate


def test_an_answer_to_an_unknown_referral_is_refused_even_without_a_case() -> None:
    h1 = ids(T.HEALTH)[0]
    o = handle_answer(
        None, answer("NO-SUCH", h1, S.ACCEPTED), event_id="x1", event_time=T0, router=ROUTER
    )
    assert o.state is None
    assert [(ob.topic, ob.key) for ob in o.out] == [
        ("inbox.health", h1),
        ("referral_events", "CASE-R-1"),
    ]
    assert o.out[0].event.reason == "no such referral"  # type: ignore[attr-defined]
    state, _ = rescued()
    out = answered(state, "NO-SUCH", h1, S.ACCEPTED, "x2", timedelta(0))
    assert logged(out, ReferralAnswerRefused)[0].current_status is None


def test_an_answer_from_an_agency_not_in_the_directory_is_an_error() -> None:
    state, _ = rescued()
    rid = referral_of(state, "legal_aid")
    with pytest.raises(ValidationError) as caught:
        answered(state, rid, "NOBODY-1", S.ACCEPTED, "x", timedelta(0))
    assert caught.value.field == "agency_id"


def test_a_duplicate_answer_changes_nothing() -> None:
    state, _ = rescued()
    rid = referral_of(state, "legal_aid")
    j1 = ids(T.JUSTICE)[0]
    assert answered(state, rid, j1, S.REJECTED, "a1", timedelta(0), reason=RejectionReason.OTHER)
    before = json.dumps(state.to_json())
    assert (
        answered(state, rid, j1, S.REJECTED, "a1", timedelta(0), reason=RejectionReason.OTHER) == []
    )
    assert json.dumps(state.to_json()) == before


def test_state_holds_no_dna_no_notes_and_no_rescue() -> None:
    state, _ = rescued(rescue(closes_alert=True))
    rid = referral_of(state, "dna_sampling")
    answered(state, rid, ids(T.POLICE)[0], S.ACCEPTED, "a1", timedelta(0))
    text = json.dumps(state.to_json())
    for secret in (DNA_CANARY, NOTE_CANARY, "DNA-S-1", "Fictional Forensics Lab", "RES-1"):
        assert secret not in text
    # Each open referral keeps exactly its type's projection, to re-offer it.
    for ref in state.referrals.values():
        if ref.victim is not None:
            assert ref.victim == default_projections().victim_profile(
                rescue(), ref.agency_type
            ).model_dump(mode="json")
    assert CaseState.from_json(json.loads(text)).to_json() == state.to_json()
