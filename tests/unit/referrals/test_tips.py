"""The public tip's acknowledgement clock in the router (homeward_referrals.tips):
overdue once, to the unit's police inbox and the nearest coordination office,
with nothing of what was seen or who saw it; stopped only by police of the
tip's own unit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from homeward.actors import agency_actor
from homeward.errors import ValidationError
from homeward.events import ResponsibleOfficer, TipAcknowledged, TipOverdue, TipReceived
from homeward.events.tips import TipVerdict
from homeward_referrals.planner import handle_tip, handle_tip_ack, handle_tip_tick
from homeward_referrals.state import TipsState, to_ms
from tests.unit.referrals.world import POLICE_DESK, router

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
ACK_WITHIN = timedelta(minutes=30)
ROUTER = router(tip_ack=ACK_WITHIN)
CONTACT_CANARY = "+86 000 CANARY 0000"
SEEN_CANARY = "CANARY red coat by the kiosk"


def tip(tip_id: str = "TIP-1", unit: str = "POL-1") -> TipReceived:
    return TipReceived(
        case_id="CASE-1",
        tip_id=tip_id,
        received_at=T0,
        seen_at=T0 - timedelta(minutes=10),
        place="Fictional coach station",
        description=SEEN_CANARY,
        contact=CONTACT_CANARY,
        officer=ResponsibleOfficer(officer_id="OFF-7", name="Officer Example", unit="Unit 1"),
        agency_id=unit,
    )


def received(*tips: TipReceived) -> TipsState:
    state: TipsState | None = None
    for n, t in enumerate(tips or (tip(),)):
        state = handle_tip(state, t, event_id=f"tip-ev-{n}", event_time=T0, router=ROUTER).state  # type: ignore[assignment]
    assert isinstance(state, TipsState)
    return state


def ack(unit: str = "POL-1", **kw: object) -> TipAcknowledged:
    return TipAcknowledged(
        case_id="CASE-1",
        tip_id="TIP-1",
        agency_id=unit,
        actor=kw.pop("actor", POLICE_DESK),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_tip_keeps_only_its_clock() -> None:
    doc = received().to_json()
    assert set(doc["tips"]["TIP-1"]) == {
        "tip_id",
        "event_id",
        "agency_id",
        "officer_id",
        "received_ms",
        "due_ms",
        "acknowledged",
        "overdue_sent",
    }
    text = json.dumps(doc)
    assert CONTACT_CANARY not in text and SEEN_CANARY not in text and "coach" not in text
    assert doc["tips"]["TIP-1"]["due_ms"] == to_ms(T0 + ACK_WITHIN)


def test_an_unacknowledged_tip_is_overdue_once_to_its_unit_and_the_nearest_office() -> None:
    state = received()
    assert handle_tip_tick(state, now=T0 + ACK_WITHIN, router=ROUTER).out == []
    out = handle_tip_tick(state, now=T0 + ACK_WITHIN + timedelta(seconds=1), router=ROUTER).out
    assert [(o.topic, o.key) for o in out] == [
        ("inbox.police", "POL-1"),
        ("inbox.coordination_office", "OFF-1"),
        ("referral_events", "CASE-1"),
    ]
    late = out[0].event
    assert isinstance(late, TipOverdue)
    assert (late.tip_id, late.agency_id, late.officer_id) == ("TIP-1", "POL-1", "OFF-7")
    assert (late.received_at, late.due_at) == (T0, T0 + ACK_WITHIN)
    assert CONTACT_CANARY not in late.model_dump_json()
    assert SEEN_CANARY not in late.model_dump_json()
    assert {o.event_id for o in out} == {out[0].event_id}  # one notice, three copies
    assert out[0].causation_id == "tip-ev-0"
    assert handle_tip_tick(state, now=T0 + 3 * ACK_WITHIN, router=ROUTER).out == []
    assert state.next_wakeup_ms() is None


def test_each_tip_of_a_case_has_its_own_clock() -> None:
    state = received(tip("TIP-1"), tip("TIP-2"))
    handle_tip_ack(state, ack(), event_time=T0 + timedelta(minutes=5), router=ROUTER)
    out = handle_tip_tick(state, now=T0 + 2 * ACK_WITHIN, router=ROUTER).out
    assert {o.event.tip_id for o in out} == {"TIP-2"}  # type: ignore[attr-defined]


def test_acknowledged_in_time_never_overdue_and_a_later_verdict_changes_no_clock() -> None:
    state = received()
    assert (
        handle_tip_ack(state, ack(), event_time=T0 + timedelta(minutes=5), router=ROUTER).out == []
    )
    verdict = ack(verdict=TipVerdict.VALID, code="LEAD_CONFIRMED")
    assert handle_tip_ack(state, verdict, event_time=T0 + 5 * ACK_WITHIN, router=ROUTER).out == []
    assert handle_tip_tick(state, now=T0 + 9 * ACK_WITHIN, router=ROUTER).out == []


def test_an_acknowledgement_too_late_is_overdue_though_no_tick_came() -> None:
    state = received()
    out = handle_tip_ack(state, ack(), event_time=T0 + 2 * ACK_WITHIN, router=ROUTER).out
    assert [o.topic for o in out] == [
        "inbox.police",
        "inbox.coordination_office",
        "referral_events",
    ]
    assert handle_tip_tick(state, now=T0 + 3 * ACK_WITHIN, router=ROUTER).out == []


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (ack(actor=None), "actor"),
        (ack(actor=agency_actor("CIV-1", "civil_affairs")), "actor.agency_type"),
        (ack(actor=agency_actor("POL-2", "police")), "actor.agency_id"),
        (ack("POL-2", actor=agency_actor("POL-2", "police")), "agency_id"),
        (ack().model_copy(update={"tip_id": "TIP-404"}), "tip_id"),
    ],
)
def test_only_police_of_the_tips_unit_stop_its_clock(bad: TipAcknowledged, field: str) -> None:
    state = received()
    with pytest.raises(ValidationError) as caught:
        handle_tip_ack(state, bad, event_time=T0 + timedelta(minutes=1), router=ROUTER)
    assert caught.value.field == field
    assert state.tips["TIP-1"].acknowledged is False


def test_a_redelivered_tip_is_a_duplicate_and_a_second_tip_under_its_id_refused() -> None:
    state = received()
    again = handle_tip(state, tip(), event_id="tip-ev-0", event_time=T0, router=ROUTER)
    assert "duplicate" in again.note
    with pytest.raises(ValidationError) as caught:
        handle_tip(state, tip(), event_id="another", event_time=T0, router=ROUTER)
    assert caught.value.field == "tip_id"


def test_a_unit_not_in_the_directory_still_gets_its_inbox_and_the_log() -> None:
    state = received(tip(unit="POL-GONE"))
    out = handle_tip_tick(state, now=T0 + 2 * ACK_WITHIN, router=ROUTER).out
    assert [(o.topic, o.key) for o in out] == [
        ("inbox.police", "POL-GONE"),
        ("referral_events", "CASE-1"),
    ]
