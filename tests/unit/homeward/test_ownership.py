"""homeward.ownership: which table keys a worker owns, and dropping the keys of
partitions it no longer holds from a table's store (never the table: no tombstone)."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from homeward.ownership import Ownership, drop_unheld, key_partition

keys = st.binary(min_size=1, max_size=40).filter(lambda k: b"/" not in k)


@given(keys, st.integers(1, 64))
def test_a_key_is_on_the_partition_the_faust_producer_writes_its_records_to(
    key: bytes, partitions: int
) -> None:
    # aiokafka's partitioner (Faust's producer: ticks, use_partitioner changelogs),
    # a second implementation of Kafka's murmur2 beside kafka-python's.
    every = list(range(partitions))
    assert key_partition(key, partitions) == DefaultPartitioner()(key, every, every)


@given(keys, st.integers(0, 3), st.integers(0, 99), st.integers(1, 64))
def test_a_part_key_is_on_its_case_partition(
    case: bytes, slot: int, n: int, partitions: int
) -> None:
    part = b"%s/%d/%d" % (case, slot, n)
    assert key_partition(part, partitions) == key_partition(case, partitions)
    # A table keyed by record keys as they are (the detector's) hashes the whole key.
    assert key_partition(case, partitions, sep=None) == key_partition(case, partitions)


def test_a_worker_owns_the_keys_of_its_active_partitions_and_nothing_during_a_rebalance() -> None:
    own = Ownership()
    key = b"POL-0001-CASE-1"
    p = key_partition(key, 12)
    assert not own.owns("alerts", key, 12)  # before the first assignment
    own.assign([("alerts", p), ("acks", (p + 1) % 12)])
    assert own.owns("alerts", key, 12) and not own.owns("acks", key, 12)
    assert own.owner_of("alerts", 12)(key) and own.partitions("alerts") == {p}
    generation = own.generation
    own.revoke_all()
    assert not own.owns("alerts", key, 12) and own.generation > generation
    own.assign([("alerts", (p + 1) % 12)])  # the case went to another worker
    assert not own.owns("alerts", key, 12)


class MemoryStore(dict[Any, Any]):
    """Faust's memory store in the small: its data plus its index of recovered keys."""

    def __init__(self, data: dict[bytes, bytes]) -> None:
        super().__init__(data)
        self._key_partition = {k: key_partition(k, 4) for k in list(data)[:2]}


@given(st.sets(keys, max_size=30), st.sets(st.integers(0, 3)))
def test_only_the_keys_of_partitions_no_longer_held_are_dropped(
    case_keys: set[bytes], held: set[int]
) -> None:
    data = {k: b"state" for k in case_keys} | {k + b"/0/0": b"part" for k in case_keys}
    store = MemoryStore(data)
    dropped = drop_unheld(store, held, 4)
    assert set(store) == {k for k in data if key_partition(k, 4) in held}
    assert dropped == len(data) - len(store)
    assert set(store._key_partition) <= set(store)
