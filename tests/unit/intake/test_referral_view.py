"""The referral read model: built from the router's log, with answers intake
published kept pending until the router cites them; and the Kafka adapter's
handling of log records (no broker needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from homeward.codec import Codec, Record
from homeward.events import (
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralStatusChanged,
    TaskStatus,
)
from homeward.settings import KafkaSettings
from homeward_intake.answers import agency_next
from homeward_intake.referral_view import ReferralTable
from homeward_intake.referral_view_kafka import KafkaReferralView

T = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def changed(
    status: str, offer: int = 1, agency: str = "HL-1", cited: str | None = None
) -> ReferralStatusChanged:
    return ReferralStatusChanged(
        case_id="C1",
        referral_id="R1",
        rule_id="health_check",
        agency_id=agency,
        agency_type="health",
        offer=offer,
        status=TaskStatus(status),
        changed_at=T,
        answer_event_id=cited,
    )


def test_last_write_wins_and_an_earlier_offer_never_overrides_a_later_one() -> None:
    table = ReferralTable()
    assert table.apply(changed("requested"), "e1")
    assert table.apply(changed("accepted"), "e2")
    state = table.get("C1", "R1")
    assert state is not None and state.status is TaskStatus.ACCEPTED and state.event_id == "e2"
    assert table.apply(changed("requested", offer=2, agency="HL-2"), "e3")
    assert not table.apply(changed("rejected", offer=1), "e4")
    state = table.get("C1", "R1")
    assert state is not None and (state.agency_id, state.offer) == ("HL-2", 2)
    assert table.get("C1", "R2") is None and len(table) == 1


def test_records_that_do_not_change_a_status_are_ignored() -> None:
    table = ReferralTable()
    escalated = ReferralEscalated(
        case_id="C1",
        referral_id="R1",
        rule_id="health_check",
        service="Check",
        agency_type="health",
        offers=3,
    )
    assert not table.apply(escalated, "e1")
    assert table.get("C1", "R1") is None


def test_a_pending_answer_counts_until_the_router_cites_it() -> None:
    table = ReferralTable()
    table.apply(changed("requested"), "e1")
    table.expect("C1", "R1", event_id="a1", status=TaskStatus.ACCEPTED, offer=1)
    assert table.known_status("C1", "R1") is TaskStatus.ACCEPTED
    table.apply(changed("received", cited="someone-else"), "e2")  # not ours: still pending
    assert table.known_status("C1", "R1") is TaskStatus.ACCEPTED
    table.apply(changed("accepted", cited="a1"), "e3")
    assert table.pending("C1", "R1") is None
    assert table.known_status("C1", "R1") is TaskStatus.ACCEPTED


def test_a_refusal_of_the_pending_answer_or_a_new_offer_drops_it() -> None:
    table = ReferralTable()
    table.apply(changed("requested"), "e1")
    table.expect("C1", "R1", event_id="a1", status=TaskStatus.ACCEPTED, offer=1)
    refusal = ReferralAnswerRefused(
        case_id="C1",
        referral_id="R1",
        agency_id="HL-1",
        status="accepted",
        current_status=TaskStatus.REQUESTED,
        reason="test",
        answer_event_id="a1",
    )
    assert table.apply(refusal, "e2")
    assert table.known_status("C1", "R1") is TaskStatus.REQUESTED
    table.expect("C1", "R1", event_id="a2", status=TaskStatus.REJECTED, offer=1)
    table.apply(changed("requested", offer=2, agency="HL-2"), "e3")
    assert table.pending("C1", "R1") is None


def test_a_pending_answer_the_router_never_cites_expires() -> None:
    clock = Clock()
    table = ReferralTable(pending_ttl_seconds=60, clock=clock)
    table.apply(changed("requested"), "e1")
    table.expect("C1", "R1", event_id="a1", status=TaskStatus.ACCEPTED, offer=1)
    clock.now += 59
    assert table.known_status("C1", "R1") is TaskStatus.ACCEPTED
    clock.now += 2
    assert table.known_status("C1", "R1") is TaskStatus.REQUESTED


def test_agencies_are_offered_only_their_own_answers() -> None:
    assert agency_next(TaskStatus.REQUESTED) == ["accepted", "received", "rejected"]
    assert agency_next(TaskStatus.IN_PROGRESS) == ["completed", "failed", "on-hold"]
    assert agency_next(TaskStatus.COMPLETED) == []


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def test_the_kafka_view_applies_decodable_records_and_counts_the_rest() -> None:
    codec = Codec()
    view = KafkaReferralView(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"), "t.referrals.events.v1"
    )
    good, meta = codec.encode(changed("requested"), key="C1", source="/test")
    view._apply_record(Rec("t", 0, 0, good.key, good.value, list(good.headers)))
    bad = Record(b"C1", b"\x00not avro", [])
    view._apply_record(Rec("t", 0, 1, bad.key, bad.value, []))
    state = view.table.get("C1", "R1")
    assert state is not None and state.event_id == meta.id
    assert view.skipped == 1
    assert not view.ready() and view.sync(0.01) is False
