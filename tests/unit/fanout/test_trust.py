"""The fan-out's trust rules: the alert lifecycle checked from its own state,
acknowledgements only from the agency itself, the catch-up of agencies first
reached by a widening, and the actor on what it emits."""

from __future__ import annotations

import json

import pytest

from homeward.actors import agency_actor, service_actor
from homeward.alert_lifecycle import AlertState, AlertTransitionError
from homeward.errors import ValidationError
from homeward.events import (
    Actor,
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    DeliveryEscalated,
    Location,
    PublicNotice,
    RadiusExpanded,
    SightingReported,
)
from homeward_fanout.planner import Policy, delivery_id, handle_event, handle_tick, to_ms
from homeward_fanout.state import SIGHTINGS_KEPT, UPDATES_KEPT, CaseState
from homeward_fanout.store import CaseStore
from tests.unit.fanout.test_planner import AGENCIES, HOUR, OFFICES, POLICY, T0, alert, issue

POLICE = Actor(principal="officer-1", kind="person", agency_id="POL-0001", agency_type="police")


def feed(state: CaseState | None, event, eid: str, at_ms: int | None = None):
    t = to_ms(T0) if at_ms is None else at_ms
    return handle_event(
        state, event, event_id=eid, accepted_ms=t, now_ms=t, agencies=AGENCIES, policy=POLICY
    )


def update(text: str = "Seen with a silver van") -> AlertUpdated:
    return AlertUpdated(case_id="CASE-T-1", new_information=text, actor=POLICE)


def sighting(n: int) -> SightingReported:
    return SightingReported(
        case_id="CASE-T-1",
        sighting_id=f"S-{n}",
        location=Location(latitude=30.0, longitude=104.0, description="Fictional Lane"),
        seen_at=T0,
        reporter_kind="agency",
        description=f"sighting {n}",
        actor=POLICE,
    )


def cancel() -> AlertCancelled:
    return AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND, actor=POLICE)


# -- the lifecycle ---------------------------------------------------------------


def test_the_state_follows_the_lifecycle_table() -> None:
    state, _ = issue(0.5)
    assert state.stage == AlertState.ACTIVE
    feed(state, update(), "u-1")
    assert state.stage == AlertState.UPDATED
    feed(state, sighting(1), "s-1")
    assert state.stage == AlertState.UPDATED  # a sighting changes no state
    feed(
        state,
        RadiusExpanded(
            case_id="CASE-T-1", previous_radius_km=100, radius_km=200, hours_since_last_seen=1.5
        ),
        "w-1",
    )
    assert state.stage == AlertState.WIDENED
    feed(state, cancel(), "c-1")
    assert state.stage == AlertState.RESOLVED_FOUND and state.status == "cancelled"


@pytest.mark.parametrize("late", [update(), sighting(9), cancel()])
def test_nothing_is_delivered_after_the_cancellation(late) -> None:
    state, _ = issue(0.5)
    feed(state, cancel(), "c-1")
    with pytest.raises(AlertTransitionError) as caught:
        feed(state, late, "late-1")
    assert caught.value.field == "case_id"
    assert "closed (resolved_found)" in caught.value.reason


@pytest.mark.parametrize("first", [update(), sighting(1), cancel()])
def test_an_event_for_an_unknown_case_is_refused(first) -> None:
    with pytest.raises(AlertTransitionError) as caught:
        feed(None, first, "x-1")
    assert "no alert has been issued" in caught.value.reason


def test_a_second_alert_for_the_case_is_refused() -> None:
    state, _ = issue(0.5)
    with pytest.raises(AlertTransitionError) as caught:
        feed(state, alert(0.5), "ev-2")
    assert "already issued" in caught.value.reason
    # A redelivery of the first is a copy, not a second alert.
    assert feed(state, alert(0.5), "ev-1").changed is False


def test_a_state_stored_before_the_stage_was_kept_is_read() -> None:
    state, _ = issue(0.5)
    doc = state.to_json()
    del doc["stage"], doc["history"]
    assert CaseState.from_json(doc).stage == AlertState.ACTIVE
    doc["status"] = "cancelled"
    assert CaseState.from_json(doc).stage == AlertState.CANCELLED_WITHDRAWN


# -- acknowledgements ------------------------------------------------------------


def ack_of(state: CaseState, agency_id: str, actor: Actor | None) -> AgencyAcknowledgement:
    return AgencyAcknowledgement(
        case_id="CASE-T-1",
        delivery_id=delivery_id(state.alert_event_id, agency_id),
        agency_id=agency_id,
        actor=actor,
    )


@pytest.mark.parametrize("actor", [None, agency_actor("TST-00001", "police")])
def test_a_forged_ack_stops_neither_the_resend_nor_the_escalation(actor) -> None:
    state, _ = issue(0.5)
    with pytest.raises(ValidationError) as caught:
        feed(state, ack_of(state, "TST-00000", actor), "ack-1")
    assert caught.value.field in ("actor", "actor.agency_id")
    assert "TST-00000" in state.pending
    t = to_ms(T0) + 61_000
    resent = handle_tick(
        state, now_ms=t, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert "TST-00000" in {o.event.agency_id for o in resent}
    escalated = handle_tick(
        state, now_ms=t + 61_000, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert "TST-00000" in {
        o.event.agency_id for o in escalated if isinstance(o.event, DeliveryEscalated)
    }


def test_an_ack_from_the_agency_itself_stops_its_clock() -> None:
    state, _ = issue(0.5)
    feed(state, ack_of(state, "TST-00000", agency_actor("TST-00000", "police")), "ack-1")
    assert "TST-00000" not in state.pending


# -- the widening catch-up ---------------------------------------------------------


def widen(state: CaseState, hours_after: float) -> list:
    t = to_ms(T0) + int(hours_after * HOUR)
    return handle_tick(
        state, now_ms=t, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out


def test_an_agency_reached_by_a_widening_gets_the_updates_and_sightings_so_far() -> None:
    state, first = issue(0.5)
    assert "TST-00003" not in {o.event.agency_id for o in first}  # 250 km: not yet
    upd = feed(state, update(), "u-1").out
    sig = feed(state, sighting(1), "s-1").out
    out = widen(state, 2.0)  # 300 km
    assert state.stage == AlertState.WIDENED
    hotel = [
        o.event
        for o in out
        if isinstance(o.event, AlertDelivery) and o.event.agency_id == "TST-00003"
    ]
    # The alert, then the update, then the sighting, in order, each with the id
    # an agency in range then got for it (so a copy is de-duplicated).
    assert [type(d.event) for d in hotel] == [AlertIssued, AlertUpdated, SightingReported]
    assert [d.source_event_id for d in hotel] == ["ev-1", "u-1", "s-1"]
    assert hotel[1].event.new_information == "Seen with a silver van"
    assert all(d.delivery_id == delivery_id(d.source_event_id, "TST-00003") for d in hotel)
    # The inner events keep who caused them; the deliveries are the fan-out's.
    assert hotel[1].event.actor == POLICE and hotel[2].event.actor == POLICE
    assert all(d.actor == service_actor("fanout") for d in hotel)
    # Only the alert delivery awaits an acknowledgement.
    assert set(state.pending) >= {"TST-00003"}
    # Those reached before got the update and sighting once, when they came.
    assert {o.event.agency_id for o in upd} == {o.event.agency_id for o in sig}
    assert "TST-00003" not in {o.event.agency_id for o in upd}


def test_a_public_channel_reached_later_gets_the_current_notice_only() -> None:
    state, _ = issue(0.5)
    feed(
        state,
        AlertUpdated(case_id="CASE-T-1", new_information="x", public_summary="Now in a blue coat"),
        "u-1",
    )
    feed(state, sighting(1), "s-1")
    out = widen(state, 4.0)  # 500 km: the media agency at 450 km
    media = [
        o.event
        for o in out
        if isinstance(o.event, AlertDelivery) and o.event.agency_id == "TST-00004"
    ]
    assert len(media) == 1
    assert isinstance(media[0].event, PublicNotice)
    assert media[0].event.summary == "Now in a blue coat" and media[0].event.status == "active"


def test_the_history_is_capped_per_kind_and_dropped_on_cancellation() -> None:
    state, _ = issue(0.5)
    for n in range(UPDATES_KEPT + 3):
        feed(state, update(f"update {n}"), f"u-{n}")
    for n in range(SIGHTINGS_KEPT + 5):
        feed(state, sighting(n), f"s-{n}")
    kinds = [h[2] for h in state.history]
    assert kinds.count("AlertUpdated") == UPDATES_KEPT
    assert kinds.count("SightingReported") == SIGHTINGS_KEPT
    # The latest are kept, in order.
    assert state.history[-1][0] == f"s-{SIGHTINGS_KEPT + 4}"
    assert state.history[0][0] == "u-3"
    # It survives the store, and a widening sends them all after the alert.
    table: dict[bytes, bytes] = {}
    CaseStore(table).save(b"CASE-T-1", state)
    again = CaseStore(table).load(b"CASE-T-1")
    assert again is not None and again.history == json.loads(json.dumps(state.history))
    hotel = [o for o in widen(again, 2.0) if o.key == "TST-00003"]
    assert len(hotel) == 1 + UPDATES_KEPT + SIGHTINGS_KEPT
    feed(again, cancel(), "c-1")
    assert again.history == []


def test_what_the_fanout_decides_carries_its_own_actor() -> None:
    operator = Policy(
        ack_timeout_ms=60_000, max_resends=0, actor=service_actor("fanout", operator="OPS-1")
    )
    res = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=operator,
    )
    assert res.state is not None
    out = (
        res.out
        + handle_tick(
            res.state,
            now_ms=to_ms(T0) + 2 * HOUR,
            agencies=AGENCIES,
            policy=operator,
            coordination_offices=OFFICES,
        ).out
    )
    kinds = {type(o.event) for o in out}
    assert {AlertDelivery, RadiusExpanded, DeliveryEscalated} <= kinds
    for o in out:
        assert o.event.actor == Actor(
            principal="homeward-fanout", kind="system", agency_id="OPS-1", agency_type=""
        )


def test_a_public_notice_keeps_the_actor_of_what_it_tells() -> None:
    issued = alert(0.5).model_copy(update={"actor": POLICE})
    res = handle_event(
        None,
        issued,
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    )
    assert res.state is not None
    out = widen(res.state, 4.0)
    (media,) = [
        o.event
        for o in out
        if isinstance(o.event, AlertDelivery) and isinstance(o.event.event, PublicNotice)
    ]
    assert media.event.actor == POLICE and media.actor == service_actor("fanout")
