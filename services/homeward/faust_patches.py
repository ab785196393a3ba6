"""Fixes to faust-streaming 0.15 (pinned <0.16) that every Homeward worker needs.

After a rebalance with tables, Faust's `Recovery.on_recovery_completed`
(faust/tables/recovery.py) resumes the stream partitions, awaits
`consumer.perform_seek()`, and only then calls `app.flow_control.resume()`.
The fetcher is already running (changelog recovery resumed the flow), so
during the seek it delivers stream records into the agents' channel queues;
those queues are `clear_on_resume=True` (faust/channels.py `Channel.queue`),
and `flow_control.resume()` (mode/utils/queues.py `FlowControlEvent.resume`)
empties them. A record fetched after the seek and cleared is gone: the consumer
has read past it, nothing acks it, and its partition's committed offset stays
put while the partition's later records are processed. A restarted worker with
a backlog on its input loses records this way (docs/delivery-guarantees.md,
"Faust after a kill").

The fix keeps the stream partitions paused until the seek is done and the
queues are cleared, then resumes them. Pausing them is Faust-only bookkeeping
(the set handed to each fetch), and aiokafka's `fetched_records` treats an
empty set as "every partition"; so a fetch is also handed a snapshot of that
set and skipped while it is empty, or records of the still-paused stream
partitions would be returned and dropped in between.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

_APPLIED = "_homeward_patched"


def applies_to(version: str) -> bool:
    """True for the faust-streaming versions these patches were written against."""
    parts = version.split(".")
    return len(parts) >= 2 and parts[0] == "0" and parts[1] == "15"


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    """`Recovery.on_recovery_completed` with the stream partitions resumed only
    after the seek to committed offsets and the clearing of the channel queues."""
    consumer = self.app.consumer
    self.log.info("Restore complete!")
    await self.app.on_rebalance_complete.send()
    self._set_recovery_ended()
    callback_coros = [
        asyncio.ensure_future(
            table.on_recovery_completed(
                self.actives_for_table[table], self.standbys_for_table[table]
            )
        )
        for table in self.tables.values()
    ]
    if callback_coros:
        await asyncio.wait(callback_coros)
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning(
            f"Recovery rebalancing again app id "
            f"{self.app.consumer_generation_id} param {generation_id}"
        )
        return
    if assignment:
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
    self.completed.set()
    # Clears the channel queues: none of the stream partitions' records are in them.
    self.app.flow_control.resume()
    consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    consumer.resume_flow()
    await self.app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    if not self.app.assignor.assigned_standbys():
        self.tables.on_standbys_ready()
    self.app.on_rebalance_end()
    self.log.info("Worker ready")


_original_fetch_records = AIOKafkaConsumerThread._fetch_records


async def _fetch_records(
    self: Any,
    consumer: Any,
    active_partitions: Any,
    timeout: float | None = None,
    max_records: int | None = None,
) -> Any:
    """`_fetch_records` on a snapshot of the active partitions, and nothing when
    there are none (aiokafka would return every partition's records)."""
    if active_partitions is not None:
        active_partitions = frozenset(active_partitions)
        if not active_partitions:
            return {}
    return await _original_fetch_records(
        self, consumer, active_partitions, timeout=timeout, max_records=max_records
    )


def apply() -> bool:
    """Install the patches once; False (nothing changed) on a Faust they were not
    written for, whose code must be read again before patching it."""
    if not applies_to(faust.__version__):
        return False
    if getattr(Recovery, _APPLIED, False):
        return True
    cast(Any, Recovery).on_recovery_completed = _on_recovery_completed
    cast(Any, AIOKafkaConsumerThread)._fetch_records = _fetch_records
    setattr(Recovery, _APPLIED, True)
    return True
