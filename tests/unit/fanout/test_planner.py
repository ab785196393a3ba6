from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.errors import ValidationError
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    ChildDescription,
    DeliveryEscalated,
    Location,
    PublicNotice,
    RadiusExpanded,
    ResponsibleOfficer,
)
from homeward_fanout.planner import CaseState, Policy, handle_event, handle_tick, to_ms
from tests.unit.fanout.geo import CENTRE, agency_at

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
HOUR = 3_600_000
POLICY = Policy(ack_timeout_ms=60_000, max_resends=1)


def alert(hours_before: float = 0.5, types: list[str] | None = None) -> AlertIssued:
    return AlertIssued(
        case_id="CASE-T-1",
        issuing_unit="Sampleville Police Unit",
        chief_officer=ResponsibleOfficer(
            officer_id="OFF-1", name="Officer Example", unit="Sampleville Police Unit"
        ),
        child=ChildDescription(name="Test Child A", sex="female", age_years=7),
        last_seen=Location(latitude=CENTRE[0], longitude=CENTRE[1], description="Fictional Park"),
        last_seen_at=T0 - timedelta(hours=hours_before),
        target_types=types or [],
        public_summary="Test Child A, 7, red coat",
    )


AGENCIES = [
    agency_at(0, 10),
    agency_at(1, 99),
    agency_at(2, 101),
    agency_at(3, 250, type_=AgencyType.TRANSPORT),
    agency_at(4, 450, type_=AgencyType.MEDIA),
    agency_at(5, 501),
    agency_at(6, 20, type_=AgencyType.COORDINATION_OFFICE),
]
OFFICES = [a for a in AGENCIES if a.type == AgencyType.COORDINATION_OFFICE]


def issue(hours_before: float = 0.5, types: list[str] | None = None) -> tuple[CaseState, list]:
    out = handle_event(
        None,
        alert(hours_before, types),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    )
    assert out.state is not None
    return out.state, out.out


def agencies_of(out: list) -> set[str]:
    return {o.event.agency_id for o in out if isinstance(o.event, AlertDelivery)}


def test_alert_reaches_the_first_ring_only() -> None:
    state, out = issue(0.5)
    assert agencies_of(out) == {"TST-00000", "TST-00001", "TST-00006"}
    assert state.radius_km == 100
    assert all(o.inbox is not None and o.key == o.event.agency_id for o in out)


def test_alert_issued_late_starts_at_the_wider_ring() -> None:
    state, out = issue(2.5)
    assert state.radius_km == 300
    assert agencies_of(out) == {"TST-00000", "TST-00001", "TST-00002", "TST-00003", "TST-00006"}


def test_target_types_filter() -> None:
    _, out = issue(5, ["transport", "media"])
    assert agencies_of(out) == {"TST-00003", "TST-00004"}


def test_widening_delivers_to_newly_reached_agencies_only_and_records_it() -> None:
    patient = Policy(ack_timeout_ms=10 * HOUR)
    state = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=patient,
    ).state
    assert state is not None
    assert (
        handle_tick(
            state,
            now_ms=to_ms(T0) + HOUR // 4,
            agencies=AGENCIES,
            policy=patient,
            coordination_offices=OFFICES,
        ).out
        == []
    )
    assert state.next_wakeup_ms(patient) == to_ms(T0) + HOUR // 2 + 1
    out = handle_tick(
        state,
        now_ms=to_ms(T0) + HOUR // 2 + 5,
        agencies=AGENCIES,
        policy=patient,
        coordination_offices=OFFICES,
    ).out
    assert agencies_of(out) == {"TST-00002"}
    expanded = [o for o in out if isinstance(o.event, RadiusExpanded)]
    assert len(expanded) == 1 and expanded[0].inbox is None
    assert (expanded[0].event.previous_radius_km, expanded[0].event.radius_km) == (100, 200)
    # The audit copy coming back through the stream changes nothing.
    again = handle_event(
        state,
        expanded[0].event,
        event_id=expanded[0].event_id,
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0) + HOUR,
        agencies=AGENCIES,
        policy=POLICY,
    )
    assert again.out == []


def test_compressed_clock_widens_sooner() -> None:
    fast = Policy(clock_speed=3600.0)
    state = handle_event(
        None,
        alert(0.5),
        event_id="e",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=fast,
    ).state
    assert state is not None
    out = handle_tick(
        state, now_ms=to_ms(T0) + 4000, agencies=AGENCIES, policy=fast, coordination_offices=OFFICES
    ).out
    assert state.radius_km == 500
    assert agencies_of(out) == {"TST-00002", "TST-00003", "TST-00004"}


def test_updates_and_cancellation_reach_every_recipient_and_no_one_else() -> None:
    state, first = issue(0.5)
    upd = handle_event(
        state,
        AlertUpdated(case_id="CASE-T-1", new_information="Wearing a blue hat"),
        event_id="ev-2",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    ).out
    assert agencies_of(upd) == agencies_of(first)
    cancel = handle_event(
        state,
        AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND),
        event_id="ev-3",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    )
    assert agencies_of(cancel.out) == agencies_of(first)
    assert state.status == "cancelled" and state.pending == {}
    assert (
        handle_tick(
            state,
            now_ms=to_ms(T0) + 10 * HOUR,
            agencies=AGENCIES,
            policy=POLICY,
            coordination_offices=OFFICES,
        ).out
        == []
    )


def test_same_event_twice_delivers_nothing_new() -> None:
    state, _ = issue(0.5)
    upd = AlertUpdated(case_id="CASE-T-1", new_information="x")
    first = handle_event(
        state, upd, event_id="ev-2", accepted_ms=1, now_ms=1, agencies=AGENCIES, policy=POLICY
    )
    second = handle_event(
        state, upd, event_id="ev-2", accepted_ms=1, now_ms=1, agencies=AGENCIES, policy=POLICY
    )
    assert first.out and second.out == []


def test_unacknowledged_delivery_is_resent_then_escalated() -> None:
    state, out = issue(0.5)
    acked = next(o for o in out if o.event.agency_id == "TST-00000")
    handle_event(
        state,
        AgencyAcknowledgement(
            case_id="CASE-T-1",
            delivery_id=acked.event_id,
            agency_id="TST-00000",
            actor=agency_actor("TST-00000", ""),
        ),
        event_id="ack-1",
        accepted_ms=1,
        now_ms=1,
        agencies=AGENCIES,
        policy=POLICY,
    )
    t = to_ms(T0) + 61_000
    resent = handle_tick(
        state, now_ms=t, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert agencies_of(resent) == {"TST-00001", "TST-00006"}
    assert all(o.event.attempt == 2 for o in resent)
    original_ids = {o.event_id for o in out}
    assert {o.event_id for o in resent} <= original_ids  # same delivery ids: agencies de-duplicate
    escalated = handle_tick(
        state, now_ms=t + 61_000, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert {o.event.agency_id for o in escalated if isinstance(o.event, DeliveryEscalated)} == {
        "TST-00001",
        "TST-00006",
    }
    assert all(
        o.inbox == AgencyType.COORDINATION_OFFICE and o.key == "TST-00006" for o in escalated
    )
    assert state.pending == {}


def test_events_before_the_alert_are_refused() -> None:
    with pytest.raises(ValidationError, match="no alert"):
        handle_event(
            None,
            AlertUpdated(case_id="CASE-X", new_information="x"),
            event_id="e",
            accepted_ms=1,
            now_ms=1,
            agencies=AGENCIES,
            policy=POLICY,
        )


def test_state_survives_json_round_trip() -> None:
    state, _ = issue(0.5)
    assert CaseState.from_json(json.loads(json.dumps(state.to_json()))) == state


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([100, 200, 300, 500]),
            st.sampled_from([-1, 1]),
            st.floats(0, 360),
            st.sampled_from(list(AgencyType)),
        ),
        min_size=1,
        max_size=60,
    ),
    st.floats(0, 4),
)
def test_every_agency_in_range_gets_the_alert_exactly_once(spots, hours_before) -> None:
    agencies = [
        agency_at(i, ring + side, bearing, t) for i, (ring, side, bearing, t) in enumerate(spots)
    ]
    patient = Policy(ack_timeout_ms=10 * HOUR)
    res = handle_event(
        None,
        alert(hours_before),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=agencies,
        policy=patient,
    )
    state, out = res.state, list(res.out)
    for step in range(1, 9):  # half-hour ticks up to four hours on
        out += handle_tick(
            state,
            now_ms=to_ms(T0) + step * HOUR // 2,
            agencies=agencies,
            policy=patient,
            coordination_offices=[],
        ).out
    every = [o.event for o in out if isinstance(o.event, AlertDelivery)]
    # Besides the alert, public channels reached at an earlier ring get a
    # "widened" notice per widening (the public appeal area grew): no one else.
    deliveries = [d for d in every if d.source_event_id == "ev-1"]
    widened = [d for d in every if d.source_event_id != "ev-1"]
    assert all(isinstance(d.event, PublicNotice) and d.event.status == "widened" for d in widened)
    ids = [d.agency_id for d in deliveries]
    assert len(ids) == len(set(ids))
    in_range = {
        a.id for a, (ring, side, _, _) in zip(agencies, spots, strict=True) if ring + side <= 500
    }
    assert set(ids) == in_range
    for d in deliveries:
        assert d.distance_km <= d.ring_km


def test_an_ack_for_another_agencys_delivery_is_refused() -> None:
    state, out = issue(0.5)
    theirs = next(o for o in out if o.event.agency_id == "TST-00000")
    with pytest.raises(ValidationError) as caught:
        handle_event(
            state,
            AgencyAcknowledgement(
                case_id="CASE-T-1",
                delivery_id=theirs.event_id,
                agency_id="TST-00001",
                actor=agency_actor("TST-00001", ""),
            ),
            event_id="ack-x",
            accepted_ms=1,
            now_ms=1,
            agencies=AGENCIES,
            policy=POLICY,
        )
    assert caught.value.field == "agency_id"
    assert "TST-00000" in state.pending


def test_acks_do_not_crowd_out_the_event_ids_kept_for_de_duplication() -> None:
    state, out = issue(0.5)
    for o in out:
        handle_event(
            state,
            AgencyAcknowledgement(
                case_id="CASE-T-1",
                delivery_id=o.event_id,
                agency_id=o.event.agency_id,
                actor=agency_actor(o.event.agency_id, ""),
            ),
            event_id=f"ack-{o.event_id}",
            accepted_ms=1,
            now_ms=1,
            agencies=AGENCIES,
            policy=POLICY,
        )
    assert state.seen_events == ["ev-1"] and state.pending == {}


def test_a_cancelled_case_keeps_nothing_about_the_child() -> None:
    state, _ = issue(0.5)
    handle_event(
        state,
        AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND),
        event_id="ev-9",
        accepted_ms=1,
        now_ms=1,
        agencies=AGENCIES,
        policy=POLICY,
    )
    stored = json.dumps(state.to_json())
    assert "Test Child A" not in stored and "Fictional Park" not in stored
    assert state.recipients == {} and state.next_wakeup_ms(POLICY) is None
    # A redelivered cancellation is still recognised.
    again = handle_event(
        state,
        AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND),
        event_id="ev-9",
        accepted_ms=1,
        now_ms=1,
        agencies=AGENCIES,
        policy=POLICY,
    )
    assert again.out == []


def test_escalation_goes_to_the_office_nearest_the_last_seen_point_only() -> None:
    far_office = agency_at(7, 300, type_=AgencyType.COORDINATION_OFFICE)
    agencies = [*AGENCIES, far_office]
    offices = [a for a in agencies if a.type == AgencyType.COORDINATION_OFFICE]
    once = Policy(ack_timeout_ms=1000, max_resends=0)
    state = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=agencies,
        policy=once,
    ).state
    out = handle_tick(
        state, now_ms=to_ms(T0) + 2000, agencies=agencies, policy=once, coordination_offices=offices
    ).out
    escalations = [o for o in out if isinstance(o.event, DeliveryEscalated)]
    assert escalations and {o.key for o in escalations} == {"TST-00006"}
