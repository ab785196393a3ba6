"""The fan-out's one Faust app: settings, topics and the case-state table.
Agents and timers import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

from homeward.agencies import load_directory
from homeward.faust_app import make_app
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_fanout.planner import Policy
from homeward_fanout.rules import RadiusSchedule
from homeward_fanout.settings import FanoutSettings

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

# Keys are case ids and values JSON documents, both as bytes with the app's
# raw serializer: the processor owns the (de)serialization of its state.
cases = app.Table(
    "cases",
    default=None,
    key_type=bytes,
    value_type=bytes,
    partitions=_alerts.partitions,
)
