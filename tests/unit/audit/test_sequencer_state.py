"""Resuming a partition from the tail read back: where the chain goes on, and
which entry ids are already chained."""

from __future__ import annotations

from homeward.audit.chain import GENESIS, Chained, Checkpoint
from homeward_audit.sequencer import resume
from tests.unit.audit.test_chain import SIGNER, T0, build


def test_an_empty_partition_starts_at_genesis() -> None:
    state = resume(0, [], keep=10)
    assert (state.next_seq, state.prev_hash, state.uncovered) == (0, GENESIS, 0)


def test_resume_goes_on_from_the_last_entry_or_checkpoint() -> None:
    items = build(12, every=5)
    tail = [i for i in items if isinstance(i, Chained | Checkpoint)]
    state = resume(0, tail, keep=100)
    last = [i for i in items if isinstance(i, Chained)][-1]
    assert state.next_seq == 12 and state.prev_hash == last.hash
    assert state.uncovered == 0  # the last item is a checkpoint
    assert "AUD-3" in state.seen_set
    state = resume(0, tail[:-1], keep=100)
    assert state.next_seq == 12 and state.uncovered == 2


def test_seen_keeps_only_the_newest_ids() -> None:
    state = resume(0, [i for i in build(20) if isinstance(i, Chained)], keep=5)
    assert state.seen_set == {f"AUD-{n}" for n in range(15, 20)}
    assert SIGNER.key_id and T0
