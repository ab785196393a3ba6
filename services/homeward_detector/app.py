"""The detector's one Faust app: settings, topics and the two state tables.
Agents and the timer import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

from homeward.faust_app import make_app
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_detector.settings import DetectorSettings

settings = DetectorSettings()
windows = settings.windows()
kafka = KafkaSettings()
topology = current_topology()

_records = topology.get("health_records")
_index = topology.get("health_index")
_ticks = topology.get("health_ticks")

app = make_app(f"{topology.prefix}{settings.app_id}", kafka, _records)

# One agent reads all three topics. Ticks for both views share one topic
# (routed by key: an index key holds a colon), and Faust must never hand one
# record to two agents: it counts one reference per agent, and a rebalance
# empties the agents' queues without releasing the references of the copies it
# drops, so the revoking worker waits for those acknowledgements for ever
# (docs/rebalancing.md). The topics are co-partitioned with both tables, so a
# tick lands on the partition that holds its key's state.
source = app.topic(
    _records.name,
    _index.name,
    _ticks.name,
    key_type=bytes,
    value_type=bytes,
    partitions=_records.partitions,
)
if not (_records.partitions == _index.partitions == _ticks.partitions):
    raise RuntimeError(
        "health.records, health.index and health.ticks must have the same partition count"
    )

# Keys and values as bytes with the app's raw serializer: the processor owns
# the (de)serialization of its state (JSON). States are stored after a batch,
# outside any one record's context, so the changelog partition comes from the
# key (the same murmur2 partitioner that keyed the input), not from "the
# current event".
persons = app.Table(
    "persons",
    default=None,
    key_type=bytes,
    value_type=bytes,
    partitions=_records.partitions,
    use_partitioner=True,
)
index = app.Table(
    "index",
    default=None,
    key_type=bytes,
    value_type=bytes,
    partitions=_index.partitions,
    use_partitioner=True,
)
