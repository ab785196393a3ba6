"""Applying the topology to the real broker: idempotent, reports drift, changes nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.admin import apply
from tests.fixtures.kafka import KafkaAccess

pytestmark = pytest.mark.integration


def fresh(kafka_admin: KafkaSettings) -> tuple[Topology, KafkaSettings]:
    prefix = f"a{uuid.uuid4().hex[:10]}."
    return (
        Topology.load(prefix=prefix).with_partitions(2),
        kafka_admin.model_copy(update={"topic_prefix": prefix}),
    )


def test_apply_creates_everything_once_then_nothing(kafka_admin: KafkaSettings) -> None:
    topology, settings = fresh(kafka_admin)
    first = apply(topology, settings)
    assert sorted(first.created) == sorted(t.name for t in topology.all())
    second = apply(topology, settings)
    assert second.created == [] and second.drift == []
    assert sorted(second.existing) == sorted(t.name for t in topology.all())


def test_drift_is_reported_and_left_alone(kafka_admin: KafkaSettings) -> None:
    topology, settings = fresh(kafka_admin)
    acks = topology.get("alert_acks").name
    admin = KafkaAdminClient(**settings.kafka_python())
    try:
        admin.create_topics([NewTopic(acks, 5, 1, topic_configs={"retention.ms": "1000"})])
        report = apply(topology, settings)
        assert acks not in report.created
        assert any(d.startswith(f"{acks}: partitions 5, declared 2") for d in report.drift)
        assert any(d.startswith(f"{acks}: retention.ms=1000") for d in report.drift)
        described = admin.describe_topics([acks])[0]
        assert len(described["partitions"]) == 5  # not changed
    finally:
        admin.close()


def test_the_command_applies_and_prints_what_it_did(kafka_access: KafkaAccess) -> None:
    prefix = f"c{uuid.uuid4().hex[:10]}."
    env = {**kafka_access.admin_env(), "HOMEWARD_TOPIC_PREFIX": prefix}
    run = subprocess.run(
        [sys.executable, "-m", "homeward.topology", "apply"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert f"created  {prefix}alerts.events.v1" in run.stdout
    again = subprocess.run(
        [sys.executable, "-m", "homeward.topology", "apply"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "created" not in again.stdout and f"ok       {prefix}alerts.events.v1" in again.stdout
