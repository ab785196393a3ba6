"""The gateway's inbox store: one entry per delivery, per agency, each with a
seq that only grows; pages see every entry exactly once; state is applied in place."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.events import ReportAcknowledged, TaskStatus
from homeward_gateway.store import Acknowledgement, InboxStore
from tests.unit.agency import samples as s
from tests.unit.gateway.samples import alert, delivered, referral


def test_a_resend_is_one_entry_and_other_agencies_stay_apart() -> None:
    store = InboxStore()
    first = store.add(alert("HL-A", "D-1"))
    assert first is not None and first.seq == 1
    assert store.add(alert("HL-A", "D-1")) is None  # the fan-out's resend: same delivery id
    other = store.add(alert("HL-B", "D-2"))
    assert other is not None and other.seq == 2
    assert store.get("HL-A", "D-1") is first
    assert store.get("HL-A", "D-2") is None  # B's delivery is not A's to see
    assert [e.delivery_id for e in store.page("HL-B").entries] == ["D-2"]


def test_updates_sightings_and_cancellation_apply_to_the_alert_in_place() -> None:
    store = InboxStore()
    issued = store.add(alert("HL-A", "D-1"))
    store.add(alert("HL-A", "D-2", s.updated()))
    store.add(alert("HL-A", "D-3", s.sighting()))
    assert issued is not None and issued.alert is not None
    assert (len(issued.alert.updates), len(issued.alert.sightings)) == (1, 1)
    assert not issued.alert.closed
    store.add(alert("HL-A", "D-4", s.cancelled()))
    assert issued.alert.closed  # the first entry shows the case closed at once


def test_the_first_acknowledgement_stands_and_reaches_a_later_entry() -> None:
    store = InboxStore()
    at = datetime(2030, 1, 1, tzinfo=UTC)
    # Read back from alerts.acks.v1 before the delivery itself (another topic).
    store.acknowledge("HL-A", "D-1", Acknowledgement("staff-a", at, "HL-A"))
    entry = store.add(alert("HL-A", "D-1"))
    assert entry is not None and entry.acknowledged is not None
    assert entry.acknowledged.by == "staff-a"
    later = store.acknowledge("HL-A", "D-1", Acknowledgement("system-a", at, "HL-A"))
    assert later.by == "staff-a"


def test_a_referral_is_requested_and_its_notices_do_not_hide_it() -> None:
    store = InboxStore()
    offered = store.add(referral("HL-A", "REF-1"))
    overdue = s.referral_overdue("HL-A").model_copy(update={"referral_id": "REF-1"})
    store.add(delivered(overdue, "HL-A"))
    assert store.get("HL-A", "REF-1") is offered
    assert store.referral_status("HL-A", "CASE-TEST-1", "REF-1") is TaskStatus.REQUESTED


@settings(max_examples=60, deadline=None)
@given(
    owners=st.lists(st.sampled_from(["HL-A", "HL-B", "HL-C"]), min_size=0, max_size=60),
    limit=st.integers(min_value=1, max_value=9),
)
def test_pages_see_every_entry_exactly_once_newest_first(owners: list[str], limit: int) -> None:
    store = InboxStore()
    for i, owner in enumerate(owners):
        store.add(alert(owner, f"D-{i}"))
    for agency in ("HL-A", "HL-B", "HL-C"):
        seen: list[int] = []
        cursor: int | None = None
        while True:
            page = store.page(agency, before=cursor, limit=limit)
            assert len(page.entries) <= limit
            assert all(e.agency_id == agency for e in page.entries)
            seen += [e.seq for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == sorted(seen, reverse=True)
        assert len(seen) == len(set(seen)) == owners.count(agency)
        # A replay from any seq gives what came after, oldest first, once each.
        if seen:
            middle = seen[len(seen) // 2]
            replayed: list[int] = []
            after = middle
            while True:
                page = store.page(agency, after=after, limit=limit)
                replayed += [e.seq for e in page.entries]
                if page.next_cursor is None:
                    break
                after = page.next_cursor
            assert replayed == sorted(q for q in seen if q > middle)


def test_wait_wakes_on_a_new_entry_from_another_thread() -> None:
    store = InboxStore()
    store.add(alert("HL-A", "D-0"))

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        waiting = asyncio.ensure_future(store.wait("HL-A", after=1, timeout=10))
        await asyncio.sleep(0)  # let the waiter register before the add
        await loop.run_in_executor(None, store.add, alert("HL-B", "D-x"))
        await loop.run_in_executor(None, store.add, alert("HL-A", "D-1"))
        return [e.delivery_id for e in await waiting]

    assert asyncio.run(scenario()) == ["D-1"]


def test_wait_returns_nothing_after_its_timeout() -> None:
    store = InboxStore()
    assert asyncio.run(store.wait("HL-A", after=0, timeout=0.05)) == []


def test_listeners_see_every_new_entry_once() -> None:
    store = InboxStore()
    heard: list[str] = []
    store.listen(lambda e: heard.append(e.delivery_id))
    store.add(alert("HL-A", "D-1"))
    store.add(alert("HL-A", "D-1"))
    store.add(referral("HL-A", "REF-1"))
    assert heard == ["D-1", "REF-1"]


def test_reports_and_their_first_acknowledgement() -> None:
    store = InboxStore()
    store.add_report(s.report("RPT-1"), "ev-1", datetime(2030, 1, 1, tzinfo=UTC))
    assert [r.report_id for r in store.reports()] == ["RPT-1"]
    ack = ReportAcknowledged(case_id="RPT-1", police_unit="Test Unit", agency_id="PS-A")
    assert store.acknowledge_report(ack, "officer-a").by == "officer-a"
    assert store.acknowledge_report(ack, "officer-b").by == "officer-a"
    report = store.report("RPT-1")
    assert report is not None and report.police_unit == "Test Unit"


def test_cursors_are_offsets_that_turn_back_into_seqs() -> None:
    store = InboxStore()
    entries = [store.add(alert("HL-A", f"D-{i}")) for i in range(3)]
    store.add(alert("HL-B", "D-other"))
    a0, a1, a2 = (e for e in entries if e is not None)
    assert a0.cursor < a1.cursor < a2.cursor
    assert store.seq_after_cursor("HL-A", a1.cursor) == a1.seq
    assert store.seq_after_cursor("HL-A", a0.cursor - 1) == 0  # before all: replay all
    assert store.seq_after_cursor("HL-A", a2.cursor + 100) == a2.seq
    assert store.seq_before_cursor("HL-A", a1.cursor) == a1.seq  # page: older than a1
    assert store.seq_before_cursor("HL-A", a0.cursor) == a0.seq
    assert store.seq_before_cursor("HL-A", a2.cursor + 1) is None


@settings(max_examples=60, deadline=None)
@given(
    owners=st.lists(st.sampled_from(["HL-A", "HL-B"]), min_size=0, max_size=40),
    limit=st.integers(min_value=1, max_value=7),
)
def test_cursor_pages_see_every_entry_exactly_once(owners: list[str], limit: int) -> None:
    store = InboxStore()
    for i, owner in enumerate(owners):
        store.add(alert(owner, f"D-{i}"))
    for agency in ("HL-A", "HL-B"):
        seen: list[str] = []
        cursor: int | None = None
        while True:
            page = store.cursor_page(agency, cursor, limit)
            seen += [e.delivery_id for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        mine = [f"D-{i}" for i, o in enumerate(owners) if o == agency]
        assert seen == list(reversed(mine))
