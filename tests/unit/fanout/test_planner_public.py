"""The planner and the projections: public roles get PublicNotices, every role
only the event kinds projections.yaml lists for it, with the same delivery
ids, acknowledgement tracking and resends as everyone else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.alert_lifecycle import AlertTransitionError
from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    CancelReason,
    DeliveryEscalated,
    Event,
    Location,
    PublicNotice,
    SightingReported,
)
from homeward.projections import Projections, default_projections
from homeward.topology import Topology
from homeward_fanout.planner import (
    CaseState,
    Outbound,
    Policy,
    delivery_id,
    handle_event,
    handle_tick,
    to_ms,
)
from homeward_fanout.processor import FanoutProcessor
from tests.unit.fanout.geo import agency_at
from tests.unit.fanout.test_planner import T0, alert

POLICY = Policy(ack_timeout_ms=60_000, max_resends=1)
AGENCIES = [
    agency_at(0, 10, type_=AgencyType.POLICE),
    agency_at(1, 20, type_=AgencyType.MEDIA),
    agency_at(2, 30, type_=AgencyType.CYBERSPACE),
    agency_at(3, 40, type_=AgencyType.TRANSPORT),
    agency_at(4, 50, type_=AgencyType.COORDINATION_OFFICE),
]
PUBLIC = {"TST-00001", "TST-00002"}
RESTRICTED = {"TST-00000", "TST-00003", "TST-00004"}
OFFICES = [AGENCIES[4]]


def issue(policy: Policy = POLICY) -> tuple[CaseState, list[Outbound]]:
    res = handle_event(
        None,
        alert(0.5),
        event_id="ev-1",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=policy,
    )
    assert res.state is not None
    return res.state, res.out


def follow(state: CaseState, event: Event, event_id: str) -> list[Outbound]:
    return handle_event(
        state,
        event,
        event_id=event_id,
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=AGENCIES,
        policy=POLICY,
    ).out


def carried(out: list[Outbound]) -> dict[str, Event]:
    return {o.event.agency_id: o.event.event for o in out if isinstance(o.event, AlertDelivery)}


def test_public_roles_get_an_active_notice_and_others_the_alert() -> None:
    state, out = issue()
    got = carried(out)
    assert set(got) == PUBLIC | RESTRICTED
    for aid in PUBLIC:
        notice = got[aid]
        assert isinstance(notice, PublicNotice)
        assert notice.status == "active"
        assert notice.summary == alert().public_summary
        assert notice.child_name == "Test Child A"
        assert notice.last_seen_area == "Fictional Park"
    assert all(isinstance(got[aid], AlertIssued) for aid in RESTRICTED)
    # Deterministic ids, and acknowledgements are awaited from public roles too.
    for o in out:
        assert o.event_id == delivery_id("ev-1", o.event.agency_id)
    assert set(state.pending) == PUBLIC | RESTRICTED
    media = next(o for o in out if o.event.agency_id == "TST-00001")
    assert media.inbox is AgencyType.MEDIA and media.key == "TST-00001"


def test_the_public_delivery_travels_as_public_and_the_others_as_restricted() -> None:
    _, out = issue()
    codec = Codec()
    for o in out:
        record, meta = codec.encode(o.event, key=o.key, source="/test")
        want = "public" if o.event.agency_id in PUBLIC else "restricted"
        assert dict(record.headers)["ce_classification"] == want.encode()
        assert meta.classification == want


def test_updates_reach_public_roles_only_with_a_public_summary() -> None:
    state, _ = issue()
    quiet = carried(follow(state, AlertUpdated(case_id="CASE-T-1", new_information="x"), "ev-2"))
    assert set(quiet) == RESTRICTED
    loud = carried(
        follow(
            state,
            AlertUpdated(
                case_id="CASE-T-1",
                new_information="Internal lead",
                photo_ref="photo://new",
                public_summary="Now in a blue hat",
            ),
            "ev-3",
        )
    )
    assert set(loud) == PUBLIC | RESTRICTED
    for aid in PUBLIC:
        notice = loud[aid]
        assert isinstance(notice, PublicNotice)
        assert (notice.status, notice.summary, notice.photo_ref) == (
            "updated",
            "Now in a blue hat",
            "photo://new",
        )
    assert all(isinstance(loud[aid], AlertUpdated) for aid in RESTRICTED)


def test_sightings_reach_no_public_role() -> None:
    state, _ = issue()
    sighting = SightingReported(
        case_id="CASE-T-1",
        sighting_id="S-1",
        location=Location(latitude=30.1, longitude=104.1, description="Fictional Market"),
        seen_at=T0,
        reporter_kind="public",
        description="Seen near the market",
    )
    assert set(carried(follow(state, sighting, "ev-2"))) == RESTRICTED


def test_a_cancellation_closes_the_public_notice_with_the_latest_summary() -> None:
    state, _ = issue()
    follow(
        state,
        AlertUpdated(case_id="CASE-T-1", new_information="x", public_summary="Latest summary"),
        "ev-2",
    )
    assert state.public == {"summary": "Latest summary", "photo_ref": None}
    got = carried(
        follow(state, AlertCancelled(case_id="CASE-T-1", reason=CancelReason.FOUND), "ev-3")
    )
    assert set(got) == PUBLIC | RESTRICTED
    for aid in PUBLIC:
        notice = got[aid]
        assert isinstance(notice, PublicNotice)
        assert (notice.status, notice.summary) == ("closed", "Latest summary")
    assert all(isinstance(got[aid], AlertCancelled) for aid in RESTRICTED)
    # Nothing about the child is kept once the case is closed.
    assert state.public == {} and "Latest summary" not in json.dumps(state.to_json())


def test_an_unacknowledged_public_notice_is_resent_with_its_id_then_escalated() -> None:
    state, out = issue()
    for o in out:
        if o.event.agency_id != "TST-00001":
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
    t = to_ms(T0) + 61_000
    resent = handle_tick(
        state, now_ms=t, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    (again,) = resent
    assert isinstance(again.event, AlertDelivery)
    assert again.event.agency_id == "TST-00001" and again.event.attempt == 2
    assert isinstance(again.event.event, PublicNotice) and again.event.event.status == "active"
    assert again.event_id == delivery_id("ev-1", "TST-00001")
    escalated = handle_tick(
        state, now_ms=t + 61_000, agencies=AGENCIES, policy=POLICY, coordination_offices=OFFICES
    ).out
    assert [(o.event.agency_id, o.inbox) for o in escalated] == [
        ("TST-00001", AgencyType.COORDINATION_OFFICE)
    ]
    assert isinstance(escalated[0].event, DeliveryEscalated)


def test_a_role_that_may_receive_no_alert_kind_gets_nothing(tmp_path: Path) -> None:
    path = tmp_path / "projections.yaml"
    path.write_text(
        "AlertDelivery.event:\n"
        "  default: [AlertIssued, AlertUpdated, SightingReported, AlertCancelled]\n"
        "  media: []\n"
        "  cyberspace: [PublicNotice]\n",
        encoding="utf-8",
    )
    policy = Policy(ack_timeout_ms=60_000, projections=Projections.load(path))
    state, out = issue(policy)
    assert set(carried(out)) == {"TST-00002"} | RESTRICTED
    assert "TST-00001" not in state.recipients
    assert "TST-00001" not in state.pending


KINDS = st.sampled_from(["update", "public_update", "sighting", "tick", "cancel"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    types=st.lists(st.sampled_from(list(AgencyType)), min_size=1, max_size=12),
    steps=st.lists(KINDS, max_size=8),
)
def test_no_role_ever_gets_a_kind_its_projection_does_not_list(
    types: list[AgencyType], steps: list[str]
) -> None:
    agencies = [agency_at(i, 5 + i, bearing=i * 29.0, type_=t) for i, t in enumerate(types)]
    by_id = {a.id: a.type.value for a in agencies}
    policy = Policy(ack_timeout_ms=1_000, max_resends=1)
    res = handle_event(
        None,
        alert(0.2),
        event_id="ev-0",
        accepted_ms=to_ms(T0),
        now_ms=to_ms(T0),
        agencies=agencies,
        policy=policy,
    )
    state, out = res.state, list(res.out)
    assert state is not None
    now = to_ms(T0)
    for n, kind in enumerate(steps, start=1):
        now += 1_500
        event: Event
        if kind == "tick":
            out += handle_tick(
                state, now_ms=now, agencies=agencies, policy=policy, coordination_offices=[]
            ).out
            continue
        if kind == "cancel":
            event = AlertCancelled(case_id="CASE-T-1", reason=CancelReason.WITHDRAWN)
        elif kind == "sighting":
            event = SightingReported(
                case_id="CASE-T-1",
                sighting_id=f"S-{n}",
                location=Location(latitude=30.0, longitude=104.0, description="Fictional Lane"),
                seen_at=T0,
                reporter_kind="agency",
                description="seen",
            )
        else:
            summary = f"summary {n}" if kind == "public_update" else None
            event = AlertUpdated(case_id="CASE-T-1", new_information="x", public_summary=summary)
        try:
            out += handle_event(
                state,
                event,
                event_id=f"ev-{n}",
                accepted_ms=now,
                now_ms=now,
                agencies=agencies,
                policy=policy,
            ).out
        except AlertTransitionError:
            # The lifecycle table: a closed case takes nothing more.
            assert state.status == "cancelled"
    projections = default_projections()
    for o in out:
        if isinstance(o.event, AlertDelivery):
            role = by_id[o.event.agency_id]
            assert o.event.agency_type == role
            kind_name = o.event.event.avro_name.rpartition(".")[2]
            assert kind_name in projections.allowed("AlertDelivery.event", role)
            assert o.event_id == delivery_id(o.event.source_event_id, o.event.agency_id)


class CaptureSend:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def __call__(self, topic: str, key: bytes, value: bytes, headers: Any) -> Awaitable[Any]:
        self.sent.append((topic, key, value, list(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_the_processor_writes_the_public_notice_to_the_media_inbox_as_public() -> None:
    topology = Topology.load(prefix="")
    send = CaptureSend()
    processor = FanoutProcessor(
        topology=topology,
        agencies=AGENCIES,
        policy=POLICY,
        table={},
        send=send,
        source="/test",
        clock=lambda: to_ms(T0) / 1000,
    )
    rec, _ = Codec().encode(alert(0.5), key="CASE-T-1", source="/test/police", time=T0)
    asyncio.run(processor.process("alerts.events.v1", 0, 1, rec.key, rec.value, rec.headers))
    codec = Codec()
    media = [s for s in send.sent if s[0] == topology.inbox(AgencyType.MEDIA).name]
    assert len(media) == 1
    _, key, value, headers = media[0]
    assert key == b"TST-00001"
    assert dict(headers)["ce_classification"] == b"public"
    decoded = codec.decode(value, headers)
    assert isinstance(decoded.event, AlertDelivery)
    assert isinstance(decoded.event.event, PublicNotice)
    police = [s for s in send.sent if s[0] == topology.inbox(AgencyType.POLICE).name]
    assert [dict(s[3])["ce_classification"] for s in police] == [b"restricted"]
