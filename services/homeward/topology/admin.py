"""Apply the declared topology to a broker: create what is missing, report
drift (partitions, replication, configs), change nothing else, never delete.

"Already exists" counts as success, so concurrent applies (compose, k8s Job,
tests) do not fail each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from homeward.errors import ConfigError, HomewardError
from homeward.settings import KafkaSettings
from homeward.topology.model import (
    DEVELOPMENT_ENV,
    PRODUCTION_MIN_ISR,
    PRODUCTION_REPLICATION,
    Topic,
    Topology,
    development,
)


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created  {n}" for n in self.created]
        out += [f"ok       {n}" for n in self.existing]
        out += [f"DRIFT    {d}" for d in self.drift]
        return out


def _admin(settings: KafkaSettings) -> KafkaAdminClient:
    return KafkaAdminClient(client_id="homeward-topology", **settings.kafka_python())


# The shapes below are kafka-python 3.0's: describe_topics gives a list of
# {"name", "partitions": [{"replica_nodes": [...]}, ...]}; describe_configs a
# {"topic": {name: {config: {"value": ...}}}} mapping.


def _describe(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, Any]]:
    described = admin.describe_topics(names)
    return {t["name"]: t for t in described if not t.get("error_code")}


def _configs(admin: KafkaAdminClient, topics: list[Topic]) -> dict[str, dict[str, str]]:
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, t.name) for t in topics]
    response = admin.describe_configs(resources)
    by_topic = response.get("topic", {}) if isinstance(response, dict) else {}
    return {
        name: {k: str(v.get("value")) for k, v in entries.items()}
        for name, entries in by_topic.items()
    }


def below_production_floor(topology: Topology) -> list[str]:
    """Each topic whose replication or min ISR could lose an acknowledged write."""
    out = []
    for t in topology.all():
        isr = int(t.config_dict().get("min.insync.replicas", "1"))
        if t.replication < PRODUCTION_REPLICATION:
            out.append(f"{t.name}: replication {t.replication} < {PRODUCTION_REPLICATION}")
        if isr < PRODUCTION_MIN_ISR:
            out.append(f"{t.name}: min.insync.replicas {isr} < {PRODUCTION_MIN_ISR}")
    return out


def check_production_floor(topology: Topology) -> None:
    """Refuse a topology below replication 3 / min ISR 2 unless a local harness asked."""
    if development():
        return
    low = below_production_floor(topology)
    if low:
        raise ConfigError(
            f"{len(low)} setting(s) below the production floor, e.g. {low[0]}: raise "
            f"HOMEWARD_TOPOLOGY_REPLICATION (>= {PRODUCTION_REPLICATION}) and "
            f"HOMEWARD_TOPOLOGY_MIN_ISR (>= {PRODUCTION_MIN_ISR}), or set {DEVELOPMENT_ENV}=1 "
            "on a local single-broker harness",
            field="HOMEWARD_TOPOLOGY_REPLICATION"
            if "replication " in low[0]
            else "HOMEWARD_TOPOLOGY_MIN_ISR",
        )


def apply(topology: Topology, settings: KafkaSettings | None = None) -> ApplyReport:
    """Create what is missing (after the production-floor check), report drift."""
    check_production_floor(topology)
    settings = settings or KafkaSettings()
    report = ApplyReport()
    admin = _admin(settings)
    try:
        wanted = topology.all()
        present = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in present]
        errors: list[str] = []
        for t in missing:
            new = NewTopic(t.name, t.partitions, t.replication, topic_configs=t.config_dict())
            try:
                admin.create_topics([new], validate_only=False)
                report.created.append(t.name)
            except TopicAlreadyExistsError:
                report.existing.append(t.name)
            except Exception as exc:
                errors.append(f"{t.name}: {type(exc).__name__}: {exc}")
        if errors:
            raise HomewardError("could not create: " + "; ".join(errors), field="topology")
        existing = [t for t in wanted if t.name in present]
        report.existing.extend(t.name for t in existing)
        described = _describe(admin, [t.name for t in existing]) if existing else {}
        configs = _configs(admin, existing)
        for t in existing:
            d = described.get(t.name)
            if d is not None:
                parts = d.get("partitions", [])
                if len(parts) != t.partitions:
                    report.drift.append(
                        f"{t.name}: partitions {len(parts)}, declared {t.partitions}"
                    )
                if parts and len(parts[0].get("replica_nodes", [])) != t.replication:
                    report.drift.append(
                        f"{t.name}: replication {len(parts[0]['replica_nodes'])}, "
                        f"declared {t.replication}"
                    )
            have = configs.get(t.name, {})
            for k, v in t.configs:
                if k in have and have[k] != v:
                    report.drift.append(f"{t.name}: {k}={have[k]}, declared {v}")
    finally:
        admin.close()
    return report
