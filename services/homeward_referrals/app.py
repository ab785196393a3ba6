"""The router's one Faust app: settings, rules, topics and the two state tables.
Agents and the timer import it (agents.py); __main__ runs the worker."""

from __future__ import annotations

from homeward.agencies import load_directory
from homeward.faust_app import make_app
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
    tip_ack=settings.tip_ack,
    projections=default_projections(),
)

_rescues = topology.get("rescues")


app = make_app(f"{topology.prefix}{settings.app_id}", kafka, _rescues)

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
tips = app.Table(
    "tips", default=None, key_type=bytes, value_type=bytes, partitions=_rescues.partitions
)
