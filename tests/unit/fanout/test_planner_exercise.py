"""Drills (AlertIssued.exercise) and the public ring: a drill reaches only
agencies that opted into drills, every delivery of it is marked, and no
public channel ever gets a notice of it; a real alert's widening tells the
public channels reached before the wider ring."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.agencies import Agency, AgencyType
from homeward.events import (
    AlertCancelled,
    AlertDelivery,
    AlertUpdated,
    CancelReason,
    PublicNotice,
    RadiusExpanded,
)
from homeward_fanout.planner import (
    CaseState,
    Outbound,
    Policy,
    expansion_event_id,
    handle_event,
    handle_tick,
    to_ms,
)
from homeward_fanout.public import AREA_DECIMALS
from tests.unit.fanout.geo import CENTRE, agency_at
from tests.unit.fanout.test_planner import HOUR, T0, alert

POLICY = Policy(ack_timeout_ms=10 * HOUR, max_resends=1)
PUBLIC_TYPES = (AgencyType.MEDIA, AgencyType.CYBERSPACE)


def drilling(a: Agency) -> Agency:
    return a.model_copy(update={"drills": True})


def run(agencies: list[Agency], *, exercise: bool, hours_before: float = 0.5) -> list[Outbound]:
    """Issue, an update with a public summary, ticks to four hours on, a cancellation."""
    issued = alert(hours_before).model_copy(update={"exercise": exercise})
    res = handle_event(
        None,
        issued,
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=agencies,
        policy=POLICY,
    )
    state: CaseState | None = res.state
    out = list(res.out)
    update = AlertUpdated(case_id="CASE-T-1", new_information="x", public_summary="Now in blue")
    res = handle_event(
        state,
        update,
        event_id="ev-2",
        accepted_ms=to_ms(T0) + 1,
        now_ms=to_ms(T0) + 1,
        agencies=agencies,
        policy=POLICY,
    )
    state, out = res.state, out + res.out
    for step in range(1, 9):
        res = handle_tick(
            state,
            now_ms=to_ms(T0) + step * HOUR // 2,
            agencies=agencies,
            policy=POLICY,
            coordination_offices=[],
        )
        state, out = res.state, out + res.out
    cancel = AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND)
    res = handle_event(
        state,
        cancel,
        event_id="ev-3",
        accepted_ms=to_ms(T0) + 5 * HOUR,
        now_ms=to_ms(T0) + 5 * HOUR,
        agencies=agencies,
        policy=POLICY,
    )
    return out + res.out


def deliveries(out: list[Outbound]) -> list[AlertDelivery]:
    return [o.event for o in out if isinstance(o.event, AlertDelivery)]


SPOTS = st.lists(
    st.tuples(
        st.sampled_from([10, 150, 250, 450]),
        st.floats(0, 360),
        st.sampled_from(list(AgencyType)),
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(SPOTS)
def test_a_drill_reaches_only_opted_in_agencies_marked_and_never_the_public(spots) -> None:
    agencies = [
        drilling(agency_at(i, km, bearing, t)) if opted else agency_at(i, km, bearing, t)
        for i, (km, bearing, t, opted) in enumerate(spots)
    ]
    got = deliveries(run(agencies, exercise=True))
    opted_in = {a.id for a in agencies if a.drills and a.type not in PUBLIC_TYPES}
    assert {d.agency_id for d in got} == opted_in
    assert all(d.exercise for d in got)
    assert not any(isinstance(d.event, PublicNotice) for d in got)
    assert all(d.agency_type not in {t.value for t in PUBLIC_TYPES} for d in got)
    # The same directory with a real alert: every agency in range, none marked.
    real = deliveries(run(agencies, exercise=False))
    assert {d.agency_id for d in real} == {a.id for a in agencies}
    assert not any(d.exercise for d in real)


def test_an_agency_not_opted_in_is_never_reached_by_a_drill_even_when_the_ring_grows() -> None:
    agencies = [agency_at(0, 10), drilling(agency_at(1, 250)), agency_at(2, 450)]
    got = deliveries(run(agencies, exercise=True))
    assert {d.agency_id for d in got} == {"TST-00001"}
    kinds = [type(d.event).__name__ for d in got]
    assert kinds == ["AlertIssued", "AlertUpdated", "AlertCancelled"]


def test_a_widening_tells_each_public_channel_reached_before_the_wider_ring() -> None:
    media = agency_at(0, 10, type_=AgencyType.MEDIA)
    online = agency_at(1, 150, type_=AgencyType.CYBERSPACE)
    police = agency_at(2, 20)
    got = deliveries(run([media, online, police], exercise=False))
    notices = [(d.agency_id, d.event) for d in got if isinstance(d.event, PublicNotice)]
    shown = [(aid, n.status, n.radius_km) for aid, n in notices]
    assert shown == [
        ("TST-00000", "active", 100),
        ("TST-00000", "updated", 100),
        # The ring grows to 200 km: the online platform is reached (with the
        # current public part); the media channel learns of the wider ring.
        ("TST-00000", "widened", 200),
        ("TST-00001", "active", 200),
        ("TST-00000", "widened", 300),
        ("TST-00001", "widened", 300),
        ("TST-00000", "widened", 500),
        ("TST-00001", "widened", 500),
        ("TST-00000", "closed", 500),
        ("TST-00001", "closed", 500),
    ]
    for _, n in notices:
        assert (n.area_latitude, n.area_longitude) == tuple(round(c, AREA_DECIMALS) for c in CENTRE)
        assert n.as_of is not None
    widened = [d for d in got if isinstance(d.event, PublicNotice) and d.event.status == "widened"]
    assert {d.source_event_id for d in widened} == {
        expansion_event_id("CASE-T-1", km) for km in (200, 300, 500)
    }
    # The one reached at 200 km got the current public part, not the alert's first.
    late = next(n for aid, n in notices if aid == "TST-00001")
    assert late.summary == "Now in blue"
    # Police get no copy of a widening (their projection lists none).
    assert all(
        d.source_event_id in {"ev-1", "ev-2", "ev-3"} for d in got if d.agency_id == police.id
    )


def test_a_radius_expanded_from_the_stream_announces_only_a_wider_ring() -> None:
    media = agency_at(0, 10, type_=AgencyType.MEDIA)
    res = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=[media],
        policy=POLICY,
    )
    state = res.state
    same = RadiusExpanded(
        case_id="CASE-T-1", previous_radius_km=100, radius_km=100, hours_since_last_seen=0.5
    )
    res = handle_event(
        state,
        same,
        event_id="ev-w1",
        accepted_ms=to_ms(T0) + 1,
        now_ms=to_ms(T0) + 1,
        agencies=[media],
        policy=POLICY,
    )
    assert deliveries(res.out) == []
    wider = same.model_copy(update={"radius_km": 300})
    res = handle_event(
        res.state,
        wider,
        event_id="ev-w2",
        accepted_ms=to_ms(T0) + 2,
        now_ms=to_ms(T0) + 2,
        agencies=[media],
        policy=POLICY,
    )
    [d] = deliveries(res.out)
    assert isinstance(d.event, PublicNotice)
    assert (d.event.status, d.event.radius_km, d.source_event_id) == ("widened", 300, "ev-w2")
