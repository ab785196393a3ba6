"""What a router worker's timers do with the keys its tables hold but it does not
own (standby copies, partitions a rebalance took away), and with what it learnt
of a case before the case went to another worker and came back (issue 12;
end to end: `python -m chaos --only rebalance-referrals`)."""

from __future__ import annotations

from datetime import timedelta

from homeward.codec import Codec
from homeward_referrals.state import to_ms
from tests.unit.referrals.test_processor import RESCUES, World
from tests.unit.referrals.world import T0, rescue

LATE = (to_ms(T0) + 3 * 3_600_000) / 1000  # three hours on: every 1 h deadline has passed


def test_a_worker_ticks_and_counts_only_the_cases_it_owns() -> None:
    # One case table as two workers hold it: each case on one of them, a copy on both.
    a, b = World(clock=LATE), World(clock=LATE)
    for n in range(1, 7):
        a.publish(RESCUES, rescue(case_id=f"CASE-R-{n}"), eid=f"r{n}")
    b.cases.update(a.cases)
    mine = {f"CASE-R-{n}".encode() for n in (1, 3, 5)}
    a.processor.owns = lambda key: key in mine
    b.processor.owns = lambda key: key not in mine
    assert sorted(a.processor.due_ticks()) == ["CASE-R-1", "CASE-R-3", "CASE-R-5"]
    assert sorted(b.processor.due_ticks()) == ["CASE-R-2", "CASE-R-4", "CASE-R-6"]
    # The open-referral gauge: each case counted on one worker, the sum the truth.
    whole = World(clock=LATE)
    whole.cases.update(a.cases)
    assert a.processor.open_counts() + b.processor.open_counts() == whole.processor.open_counts()
    assert whole.processor.open_counts()  # something open to count


def test_a_case_that_comes_back_is_timed_from_the_state_its_table_holds_now() -> None:
    # A decided the case last with its deadline five hours on; the case went to B,
    # whose state of it has its deadline at one hour (what B decided meanwhile).
    a, b = World(clock=LATE), World(clock=LATE)
    rec, _ = Codec().encode(
        rescue(), key="CASE-R-1", source="/test/police", time=T0 + timedelta(hours=5)
    )
    a.feed(RESCUES, rec.key, rec.value, rec.headers)
    assert a.processor.due_ticks() == []
    b.publish(RESCUES, rescue())
    assert b.processor.due_ticks() == ["CASE-R-1"]
    # The rebalances: A loses the partition (its keys dropped), gets it back and
    # replays the changelog, which holds B's state.
    a.processor.forget()
    a.cases.clear()
    a.processor.forget()
    a.cases.update(b.cases)
    # Timed from what A learnt before, the deadline would pass unescalated for hours.
    assert a.processor.due_ticks() == ["CASE-R-1"]
