"""The detector's schedule and the keys its tables hold but its worker does not
own (standby copies, partitions a rebalance took away): issue 12; end to end,
`python -m chaos --only rebalance-detector`."""

from __future__ import annotations

from tests.unit.detector.test_processor import RECORDS, M, World
from tests.unit.detector.world import T0, W, certificate


def test_a_key_is_scheduled_only_by_the_worker_that_owns_it() -> None:
    owner, standby = World(), World()
    owner.publish(RECORDS, certificate(M, "C1", "D1", T0 - 2 * W.lateness), M.id_number)
    standby.persons.update(owner.persons)  # a standby copy from the changelog
    standby.processor.owns = lambda side, key: False
    assert standby.processor.due_ticks() == []
    assert owner.processor.due_ticks() == [M.id_number]


def test_after_a_rebalance_the_schedule_is_read_again_from_what_the_worker_owns() -> None:
    w = World()
    w.publish(RECORDS, certificate(M, "C1", "D1", T0 - 2 * W.lateness), M.id_number)
    w.processor.owns = lambda side, key: False  # the partition went to another worker
    w.processor.forget()
    assert w.processor.due_ticks() == []
    w.processor.owns = lambda side, key: True  # and came back
    w.processor.forget()
    assert w.processor.due_ticks() == [M.id_number]
