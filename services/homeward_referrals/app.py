"""The router's one Faust app: settings, rules, topics and the two state tables.
Agents and the timer import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

import ssl

import faust

from homeward.agencies import load_directory
from homeward.projections import default_projections
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_referrals.planner import Router
from homeward_referrals.processor import SOURCES
from homeward_referrals.rules import load_rules
from homeward_referrals.settings import ReferralSettings

settings = ReferralSettings()
kafka = KafkaSettings()
topology = current_topology()
directory = load_directory(settings.directory)
router = Router(
    rules=load_rules(settings.rules, settings.deadlines),
    agencies=directory,
    max_km=settings.max_km,
    report_ack=settings.report_ack,
    projections=default_projections(),
)

_rescues = topology.get("rescues")


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
    topic_partitions=_rescues.partitions,
    topic_replication_factor=_rescues.replication,
    producer_acks=-1,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    processing_guarantee="at_least_once",
)

# One stream over the co-partitioned topics keyed by case (or report) id, so
# one agent owns a case's state whichever kind of record arrives.
source = app.topic(
    *(topology.get(t).name for t in SOURCES),
    key_type=bytes,
    value_type=bytes,
    partitions=_rescues.partitions,
)

# Keys are case (report) ids and values JSON documents, both as bytes with the
# app's raw serializer: the processor owns the (de)serialization of its state.
cases = app.Table(
    "cases", default=None, key_type=bytes, value_type=bytes, partitions=_rescues.partitions
)
reports = app.Table(
    "reports", default=None, key_type=bytes, value_type=bytes, partitions=_rescues.partitions
)
