"""The fan-out's one Faust app: settings, topics and the case-state table.
Agents and timers import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

from typing import Any

import faust

from homeward.agencies import load_directory
from homeward.faust_app import make_app
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_fanout.planner import Policy
from homeward_fanout.rules import RadiusSchedule
from homeward_fanout.settings import FanoutSettings
from homeward_fanout.store import partition_of

settings = FanoutSettings()
kafka = KafkaSettings()
topology = current_topology()
directory = load_directory(settings.directory)
policy = Policy(
    schedule=RadiusSchedule.parse(settings.radius_schedule),
    ack_timeout_ms=int(settings.ack_timeout_seconds * 1000),
    max_resends=settings.max_resends,
    clock_speed=settings.clock_speed,
)

_alerts = topology.get("alert_events")


app = make_app(f"{topology.prefix}{settings.app_id}", kafka, _alerts)

# One stream over the three co-partitioned topics keyed by case id, so one
# agent owns a case's state whichever kind of record arrives.
source = app.topic(
    _alerts.name,
    topology.get("alert_acks").name,
    topology.get("fanout_ticks").name,
    key_type=bytes,
    value_type=bytes,
    partitions=_alerts.partitions,
)
ticks = app.topic(topology.get("fanout_ticks").name, key_type=bytes, value_type=bytes)


class CaseTable(faust.Table[bytes, bytes]):
    """States are stored after a batch, outside any one record's context, so
    the changelog partition of a key is computed, not "the current event's":
    Kafka's partitioner on the case id, the partition the case's records are
    on. A large state's parts (store.py) go to their case's partition too."""

    def partition_for_key(self, key: Any) -> int:
        assert self.partitions is not None  # given below
        return partition_of(key, self.partitions)


# Keys are case ids (and parts of large states), values bytes with the app's
# raw serializer: the processor owns the (de)serialization of its state.
cases = app.tables.add(
    CaseTable(
        app,
        name="cases",
        default=None,
        beacon=app.tables.beacon,
        key_type=bytes,
        value_type=bytes,
        partitions=_alerts.partitions,
    )
)
