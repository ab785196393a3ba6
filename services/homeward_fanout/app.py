"""The fan-out's one Faust app: settings, topics and the case-state table.
Agents and timers import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

import ssl

import faust

from homeward.agencies import load_directory
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


def credentials(k: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """The same connection settings as every kafka-python client, in Faust's terms."""
    protocol = k.security_protocol.upper()
    context = ssl.create_default_context(cafile=k.ssl_cafile) if "SSL" in protocol else None
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=k.sasl_username,
            password=k.sasl_password.get_secret_value() if k.sasl_password else None,
            ssl_context=context,
            mechanism=k.sasl_mechanism or "PLAIN",
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


app = faust.App(
    f"{topology.prefix}{settings.app_id}",
    broker=kafka.faust_broker(),
    broker_credentials=credentials(kafka),
    # State is rebuilt from the changelog on start: no local store to lose or move.
    store="memory://",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=_alerts.partitions,
    topic_replication_factor=_alerts.replication,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    processing_guarantee="at_least_once",
)

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
