"""The router's trust rules: an answer acts for its agency only with an actor
of that agency; a report is acknowledged only by police, for themselves; what
the router decides carries its own actor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from homeward.actors import agency_actor, service_actor
from homeward.agencies import AgencyType as T
from homeward.errors import ValidationError
from homeward.events import (
    Actor,
    AlertCancelled,
    ReferralAnswerRefused,
    ReportAcknowledged,
    TaskStatus,
)
from homeward_referrals.planner import handle_answer, handle_report_ack
from homeward_referrals.state import ReportState
from tests.unit.referrals.test_deadlines import filed
from tests.unit.referrals.test_planner import ROUTER, logged, referral_of, rescued
from tests.unit.referrals.world import POLICE_DESK, T0, answer, ids, rescue

S = TaskStatus
OFFICER = Actor(principal="officer-1", kind="person", agency_id="POL-1", agency_type="police")


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (None, "actor: the answer carries no actor"),
        (agency_actor("HL-OTHER", "health"), "actor.agency_id: the answer is for"),
    ],
)
def test_an_answer_without_the_agencys_own_actor_is_refused_and_changes_nothing(
    actor: Actor | None, reason: str
) -> None:
    state, _ = rescued()
    rid = referral_of(state, "psychological_care")
    holder = state.referrals[rid].agency_id
    assert holder is not None
    # Rejected "as" the agency holding it, by someone who is not that agency.
    forged = answer(rid, holder, S.REJECTED, reason="no_capacity", actor=actor)
    o = handle_answer(state, forged, event_id="forged-1", event_time=T0, router=ROUTER)
    (refused,) = logged(o.out, ReferralAnswerRefused)
    assert refused.reason.startswith(reason)
    assert refused.current_status is None  # tells the SDK nothing about the referral
    # The holder is told in its own inbox; nothing else moves.
    assert [ob.topic for ob in o.out] == [f"inbox.{T.HEALTH.value}", "referral_events"]
    ref = state.referrals[rid]
    assert (ref.agency_id, ref.status, ref.offer) == (holder, "requested", 1)
    # The agency's own answer still goes through.
    real = answer(rid, holder, S.ACCEPTED)
    o = handle_answer(state, real, event_id="real-1", event_time=T0, router=ROUTER)
    assert state.referrals[rid].status == "accepted"


def test_an_answer_for_an_agency_the_referral_is_not_offered_to_is_refused() -> None:
    state, _ = rescued()
    rid = referral_of(state, "psychological_care")
    other = next(a for a in ids(T.HEALTH) if a != state.referrals[rid].agency_id)
    o = handle_answer(
        state, answer(rid, other, S.ACCEPTED), event_id="x", event_time=T0, router=ROUTER
    )
    (refused,) = logged(o.out, ReferralAnswerRefused)
    assert refused.reason == "the referral is not offered to this agency"


@pytest.mark.parametrize(
    ("actor", "field"),
    [
        (None, "actor"),
        (agency_actor("POL-1", "health"), "actor.agency_type"),
        (agency_actor("POL-2", "police"), "actor.agency_id"),
    ],
)
def test_only_police_acknowledge_a_report_for_themselves(actor: Actor | None, field: str) -> None:
    state = filed()
    ack = ReportAcknowledged(
        case_id="REP-1", police_unit="Sampleville Police Unit", agency_id="POL-1", actor=actor
    )
    with pytest.raises(ValidationError) as caught:
        handle_report_ack(state, ack, event_time=T0, router=ROUTER)
    assert caught.value.field == field
    assert isinstance(state, ReportState) and not state.acknowledged
    # Police's own acknowledgement stops the clock.
    ok = ack.model_copy(update={"actor": POLICE_DESK})
    handle_report_ack(state, ok, event_time=T0 + timedelta(minutes=5), router=ROUTER)
    assert state.acknowledged


def test_a_rescue_closes_its_alert_under_the_rescuers_actor() -> None:
    r = rescue().model_copy(update={"closes_alert": True, "actor": OFFICER})
    _, out = rescued(r)
    (cancel,) = [o.event for o in out if isinstance(o.event, AlertCancelled)]
    assert cancel.actor == OFFICER
    assert service_actor("referrals").principal == "homeward-referrals"
