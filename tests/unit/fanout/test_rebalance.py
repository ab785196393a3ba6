"""The fan-out's timer and the keys its table holds but its worker does not own
(standby copies, partitions a rebalance took away): issue 12; end to end,
`python -m chaos --only rebalance-fanout`."""

from __future__ import annotations

import asyncio

from homeward_fanout.planner import to_ms
from tests.unit.fanout.test_planner import T0, alert
from tests.unit.fanout.test_processor import FlakySend, make, record

ALERTS = "alerts.events.v1"
DAYS_ON = (to_ms(T0) + 30 * 86_400_000) / 1000  # every widening of the case has come


def test_only_the_owner_ticks_a_case_and_a_case_that_comes_back_is_read_again() -> None:
    table: dict[bytes, bytes] = {}
    a = make(FlakySend(), table)
    asyncio.run(a.process(ALERTS, 0, 0, *record(alert())))
    a.clock = lambda: DAYS_ON
    (case,) = a.due_ticks()
    # B holds a standby copy of the same table: not its case, so no tick from it.
    b = make(FlakySend(), dict(table))
    b.clock = lambda: DAYS_ON
    b.owns = lambda key: False
    assert b.due_ticks() == []
    # A rebalance takes the case from A: until it comes back, A sends no tick.
    a.owns = lambda key: False
    a.forget()
    assert a.due_ticks() == []
    a.owns = lambda key: True
    a.forget()
    assert a.due_ticks() == [case]
