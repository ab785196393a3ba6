"""The hash chain and its checkpoints, without a broker: a clean chain verifies,
and each kind of tampering is named at the first bad item."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.audit.chain import (
    GENESIS,
    Chained,
    ChainError,
    Checkpoint,
    Item,
    Problem,
    Signer,
    chain_next,
    entry_hash,
    from_json,
    load_public_keys,
    to_json,
    verify,
)
from homeward.audit.record import AuditEntry, AuditOutcome

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SIGNER = Signer.generate()
KEYS = load_public_keys(SIGNER.public_pem())


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        entry_id=f"AUD-{n}",
        at=T0 + timedelta(seconds=n),
        service="intake",
        action="alert.issue" if n % 3 else "timeline.read",
        outcome=AuditOutcome.ACCEPTED if n % 5 else AuditOutcome.REFUSED,
        principal=f"svc-test-{n % 4}",
        agency_id="POL-0001",
        case_id=f"CASE-{n % 7:04d}",
        status=202 if n % 5 else 403,
        detail={"topic": "alerts.events.v1"},
    )


def build(n: int, every: int = 10, partition: int = 0) -> list[Item]:
    """n entries on one partition, a checkpoint after every `every` and one at the end."""
    items: list[Item] = []
    prev = GENESIS
    for seq in range(n):
        c = chain_next(partition, seq, prev, entry(seq))
        items.append(c)
        prev = c.hash
        if (seq + 1) % every == 0 or seq == n - 1:
            items.append(SIGNER.checkpoint(c, T0 + timedelta(seconds=seq)))
    return [dataclasses.replace(item, offset=i) for i, item in enumerate(items)]


def entry_positions(items: list[Item]) -> list[int]:
    return [i for i, item in enumerate(items) if isinstance(item, Chained)]


def test_a_clean_chain_verifies() -> None:
    items = build(45) + build(12, partition=1)
    report = verify(items, KEYS)
    assert report.ok, report.first
    assert report.partitions[0].entries == 45
    assert report.partitions[0].checkpoints == 5
    assert report.partitions[1].last_seq == 11


def test_the_hash_covers_partition_seq_prev_and_every_field() -> None:
    e = entry(1)
    base = entry_hash(0, 1, GENESIS, e)
    assert entry_hash(1, 1, GENESIS, e) != base
    assert entry_hash(0, 2, GENESIS, e) != base
    assert entry_hash(0, 1, "1" * 64, e) != base
    for name, value in [("action", "alert.cancel"), ("principal", "x"), ("status", 500),
                        ("detail", {"topic": "other"}), ("at", T0)]:  # fmt: skip
        assert entry_hash(0, 1, GENESIS, dataclasses.replace(e, **{name: value})) != base, name


ITEMS = build(60, every=7)
POSITIONS = entry_positions(ITEMS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POSITIONS), st.sampled_from(["action", "principal", "case_id", "status"]))
def test_an_altered_entry_is_named(at: int, field: str) -> None:
    items = list(ITEMS)
    old = items[at]
    assert isinstance(old, Chained)
    value = 999 if field == "status" else "forged"
    items[at] = dataclasses.replace(old, entry=dataclasses.replace(old.entry, **{field: value}))
    first = verify(items, KEYS).first
    assert first and (first.index, first.seq, first.problem) == (at, old.seq, Problem.ALTERED)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POSITIONS))
def test_a_deleted_entry_is_named_missing(at: int) -> None:
    items = ITEMS[:at] + ITEMS[at + 1 :]
    old = ITEMS[at]
    first = verify(items, KEYS).first
    assert first and (first.seq, first.problem) == (old.seq, Problem.MISSING)
    assert first.index == at  # the item now at its place (the next entry, or a checkpoint)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POSITIONS[:-1]))
def test_swapped_entries_are_named_reordered(k: int) -> None:
    at = POSITIONS.index(k)
    a, b = POSITIONS[at], POSITIONS[at + 1]
    items = list(ITEMS)
    items[a], items[b] = items[b], items[a]
    first = verify(items, KEYS).first
    assert first and (first.index, first.problem) == (a, Problem.REORDERED)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(POSITIONS))
def test_a_forged_entry_slipped_in_is_named_inserted(at: int) -> None:
    """The strongest forger without the key: right seq, right prev_hash, a valid hash."""
    real = ITEMS[at]
    assert isinstance(real, Chained)
    forged = chain_next(0, real.seq, real.prev_hash, dataclasses.replace(entry(999), entry_id="X"))
    items = [*ITEMS[:at], forged, *ITEMS[at:]]
    first = verify(items, KEYS).first
    assert first and (first.index, first.seq, first.problem) == (at, real.seq, Problem.INSERTED)


def test_a_replayed_entry_is_named_inserted() -> None:
    at = POSITIONS[10]
    items = [*ITEMS[: at + 1], ITEMS[POSITIONS[3]], *ITEMS[at + 1 :]]
    first = verify(items, KEYS).first
    assert first and (first.index, first.problem) == (at + 1, Problem.INSERTED)


def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link() -> None:
    at = POSITIONS[4]
    old = ITEMS[at]
    assert isinstance(old, Chained)
    items = list(ITEMS)
    items[at] = chain_next(0, old.seq, old.prev_hash, dataclasses.replace(old.entry, action="x"))
    first = verify(items, KEYS).first
    assert first and first.index == at + 1
    assert first.problem in (Problem.BROKEN_LINK, Problem.CHECKPOINT_MISMATCH)


def checkpoints() -> list[int]:
    return [i for i, item in enumerate(ITEMS) if isinstance(item, Checkpoint)]


@pytest.mark.parametrize("at", checkpoints()[:3])
def test_a_bad_signature_and_an_unknown_key_are_named(at: int) -> None:
    cp = ITEMS[at]
    assert isinstance(cp, Checkpoint)
    flipped = ("0" if cp.signature[0] != "0" else "1") + cp.signature[1:]
    for changed, problem in [
        (dataclasses.replace(cp, signature=flipped), Problem.BAD_SIGNATURE),
        (dataclasses.replace(cp, seq=cp.seq - 1), Problem.BAD_SIGNATURE),
        (dataclasses.replace(cp, key_id="ffffffffffffffff"), Problem.UNKNOWN_KEY),
        (Signer.generate().checkpoint(ITEMS[at - 1], cp.at), Problem.UNKNOWN_KEY),  # type: ignore[arg-type]
    ]:
        items = [*ITEMS[:at], changed, *ITEMS[at + 1 :]]
        first = verify(items, KEYS).first
        assert first and (first.index, first.problem) == (at, problem)


def test_a_signed_checkpoint_over_another_chain_is_a_mismatch() -> None:
    at = checkpoints()[2]
    cp = ITEMS[at]
    assert isinstance(cp, Checkpoint)
    other = chain_next(0, cp.seq, "2" * 64, entry(1))
    items = [*ITEMS[:at], SIGNER.checkpoint(other, cp.at), *ITEMS[at + 1 :]]
    first = verify(items, KEYS).first
    assert first and (first.index, first.problem) == (at, Problem.CHECKPOINT_MISMATCH)


def test_a_rotated_key_still_verifies_old_checkpoints() -> None:
    new = Signer.generate()
    head = ITEMS[-2]
    assert isinstance(head, Chained)
    items = [*ITEMS, new.checkpoint(head, T0)]
    keys = load_public_keys(SIGNER.public_pem() + new.public_pem())
    assert verify(items, keys).ok
    assert not verify(items, KEYS).ok


@settings(max_examples=30, deadline=None)
@given(st.integers(0, len(ITEMS) - 1))
def test_json_lines_round_trip(at: int) -> None:
    item = ITEMS[at]
    assert from_json(to_json(item)) == item


def test_keys_refuse_what_is_not_ed25519() -> None:
    with pytest.raises(ChainError, match="signing key"):
        Signer.from_pem(b"not a key")
    with pytest.raises(ChainError, match="no '-----BEGIN PUBLIC KEY-----'"):
        load_public_keys(b"")
    assert Signer.from_pem(SIGNER.private_pem()).key_id == SIGNER.key_id
