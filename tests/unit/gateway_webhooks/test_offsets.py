"""The commit rule: never past a delivery that is not settled, whatever the
order deliveries settle in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from homeward_gateway.webhooks.offsets import OffsetTracker

TP = ("inbox.education.v1", 0)


def test_commits_up_to_the_first_unsettled_delivery() -> None:
    t = OffsetTracker()
    for offset in (10, 11, 12, 13):
        t.add(TP, offset)
    t.settle(TP, 10)
    t.settle(TP, 12)  # settled out of order: another agency's endpoint was faster
    assert t.committable() == {TP: 11}
    t.mark_committed({TP: 11})
    assert t.committable() == {}  # nothing moved
    t.settle(TP, 11)
    assert t.committable() == {TP: 13}
    t.settle(TP, 13)
    assert t.committable() == {TP: 14}  # all settled: one past the last seen
    assert t.in_flight() == 0


def test_partitions_are_apart() -> None:
    t = OffsetTracker()
    other = ("police.inbox.v1", 2)
    t.add(TP, 0)
    t.add(other, 5)
    t.settle(other, 5)
    assert t.committable() == {TP: 0, other: 6}
    t.settle(("inbox.media.v1", 0), 3)  # never read here: ignored
    assert t.committable() == {TP: 0, other: 6}


@given(
    count=st.integers(min_value=1, max_value=60),
    order=st.randoms(use_true_random=False),
    settled=st.integers(min_value=0, max_value=60),
)
def test_never_commits_past_an_unsettled_offset(count: int, order, settled: int) -> None:  # type: ignore[no-untyped-def]
    t = OffsetTracker()
    offsets = list(range(100, 100 + count))
    for o in offsets:
        t.add(TP, o)
    done = offsets[:]
    order.shuffle(done)
    done = done[: min(settled, count)]
    for o in done:
        t.settle(TP, o)
    pending = set(offsets) - set(done)
    commit = t.committable().get(TP)
    assert commit is not None
    # Everything before the committed offset is settled; the offset itself is
    # the first unsettled one (or one past the end).
    assert all(o in done for o in offsets if o < commit)
    assert commit == (min(pending) if pending else offsets[-1] + 1)
