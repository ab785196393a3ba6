"""Which table keys a Faust worker owns now, and dropping the ones it no longer holds.

Faust's in-memory store (`store="memory://"`, homeward.faust_app) is one dict per
table per worker. It holds more than the worker's own partitions:

- keys of partitions revoked from the worker stay: the store drops, when a
  recovery completes, only keys it read from the changelog, never the ones the
  worker wrote itself while it owned them;
- keys of standby partitions (`table_standby_replicas`, 1 by default) are
  copies of another worker's state, kept up to date from its changelog.

A timer that iterates a table (the fan-out's and the router's ticks, the router's
open-referral gauge, the detector's schedule) would act on all of these: send
ticks every round for cases another worker owns (the owner never answers them
on this worker, so the case stays "due" here and ticks forever), count a case
on two workers, and, after the partition comes back, keep a state its owner
deleted meanwhile once the tombstone is compacted away. So the timers ask
`owns()`, and a partition that is neither active nor standby on this worker has
its keys dropped from the store (not the table: no tombstone is written; the
next assignment of that partition replays its changelog from the start, as the
in-memory store keeps no offsets).

Every Homeward table key lives on the partition Kafka's murmur2 partitioner
gives the part before its first "/" (the case id for a fan-out state's parts,
homeward_fanout.store), which is how every producer keys the inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, MutableMapping
from typing import Any

from kafka.partitioner.default import murmur2

log = logging.getLogger("homeward.ownership")

SEP = b"/"


def key_partition(key: bytes, partitions: int, sep: bytes | None = SEP) -> int:
    """The partition a table key is on: murmur2 of the part before the first `sep`
    (of the whole key for a table whose keys are record keys as they are, sep None)."""
    owner = key if sep is None else key.split(sep, 1)[0]
    return (int(murmur2(owner)) & 0x7FFFFFFF) % partitions


class Ownership:
    """The partitions of each input topic this worker actively owns. Empty until
    the first assignment and during a rebalance, so timers act on nothing then."""

    def __init__(self) -> None:
        self._active: dict[str, frozenset[int]] = {}
        #: Bumped on every change, for caches derived from the tables.
        self.generation = 0

    def assign(self, assigned: Iterable[tuple[str, int]]) -> None:
        """The worker's whole assignment (topic, partition) as of this rebalance."""
        active: dict[str, set[int]] = {}
        for topic, partition in assigned:
            active.setdefault(topic, set()).add(partition)
        self._active = {t: frozenset(ps) for t, ps in active.items()}
        self.generation += 1

    def revoke_all(self) -> None:
        """A rebalance started: until it ends, this worker owns nothing."""
        self._active = {}
        self.generation += 1

    def partitions(self, topic: str) -> frozenset[int]:
        return self._active.get(topic, frozenset())

    def owns(self, topic: str, key: bytes, partitions: int, sep: bytes | None = SEP) -> bool:
        """Whether `key`, of a table partitioned like `topic` (`partitions` of
        them), is on a partition of `topic` this worker actively owns."""
        return key_partition(key, partitions, sep) in self._active.get(topic, frozenset())

    def owner_of(
        self, topic: str, partitions: int, sep: bytes | None = SEP
    ) -> Callable[[bytes], bool]:
        """`owns` for one topic, as a processor takes it."""
        return lambda key: self.owns(topic, key, partitions, sep)


def drop_unheld(
    store: MutableMapping[Any, Any],
    held: Collection[int],
    partitions: int,
    sep: bytes | None = SEP,
) -> int:
    """Delete from `store` (a table's store, never the table itself) every key whose
    partition is not in `held`; how many went."""
    gone = [k for k in list(store.keys()) if key_partition(k, partitions, sep) not in held]
    key_partition_of = getattr(store, "_key_partition", None)  # the memory store's own index
    for k in gone:
        store.pop(k, None)
        if key_partition_of is not None:
            key_partition_of.pop(k, None)
    return len(gone)


def attach(
    app: Any,
    ownership: Ownership,
    tables: Iterable[Any],
    on_change: Callable[[], None] = lambda: None,
    sep: bytes | None = SEP,
) -> None:
    """Keep `ownership` in step with `app`'s assignment, drop the keys of
    partitions this worker no longer holds from each table's store, and call
    `on_change` (a processor forgetting what it derived from the tables) at the
    start and the end of every rebalance."""
    tables = list(tables)

    async def revoked(sender: Any, revoked: Any = None, **_: Any) -> None:
        ownership.revoke_all()
        on_change()

    async def assigned(sender: Any, assigned: Any = None, **_: Any) -> None:
        tps = [(tp.topic, tp.partition) for tp in assigned or ()]
        standby = {(tp.topic, tp.partition) for tp in app.assignor.assigned_standbys()}
        # Source topics are only ever active; a changelog partition may be either.
        ownership.assign(tp for tp in tps if tp not in standby)
        for table in tables:
            changelog = table.changelog_topic.get_topic_name()
            held = {p for t, p in tps if t == changelog}
            n = drop_unheld(table.data, held, table.partitions, sep)
            if n:
                log.info("table %s: dropped %d keys of partitions no longer held", table.name, n)
        on_change()

    app.on_partitions_revoked.connect(revoked, weak=False)
    app.on_partitions_assigned.connect(assigned, weak=False)
