from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward_agency.dedup import Seen, SeenSet


def test_first_copy_is_new_then_pending_then_acked() -> None:
    seen = SeenSet(10)
    assert seen.check("D-1") is Seen.NEW
    assert seen.check("D-1") is Seen.PENDING
    seen.mark_acked("D-1")
    assert seen.check("D-1") is Seen.ACKED


def test_least_recently_seen_id_is_evicted_first() -> None:
    seen = SeenSet(2)
    seen.check("D-1")
    seen.check("D-2")
    seen.check("D-1")  # touched again: D-2 is now the oldest
    seen.check("D-3")
    assert "D-1" in seen and "D-3" in seen and "D-2" not in seen
    assert seen.check("D-2") is Seen.NEW


def test_acknowledging_counts_as_a_touch() -> None:
    seen = SeenSet(2)
    seen.check("D-1")
    seen.check("D-2")
    seen.mark_acked("D-1")
    seen.check("D-3")
    assert "D-1" in seen and "D-2" not in seen


def test_forget_lets_the_next_copy_through() -> None:
    seen = SeenSet(5)
    seen.check("D-1")
    seen.forget("D-1")
    seen.forget("never-seen")  # harmless
    assert seen.check("D-1") is Seen.NEW


def test_marking_an_unknown_id_acked_does_not_add_it() -> None:
    seen = SeenSet(5)
    seen.mark_acked("D-9")
    assert len(seen) == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SeenSet(0)


@given(
    st.lists(st.integers(min_value=0, max_value=30), max_size=300),
    st.integers(min_value=1, max_value=10),
)
def test_never_holds_more_than_capacity_and_recent_ids_stay(ids: list[int], capacity: int) -> None:
    seen = SeenSet(capacity)
    for i in ids:
        seen.check(i)
        assert len(seen) <= capacity
    recent = list(dict.fromkeys(reversed(ids)))[:capacity]
    assert all(i in seen for i in recent)
