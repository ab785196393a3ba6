"""The project's own Kafka harness against a real broker (homeward.broker)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from homeward.broker import STATE_FILE_NAME, BrokerError, KafkaCluster, read_state
from homeward.settings import KafkaSettings
from tests.fixtures.kafka import docker_available

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

needs_java = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="the harness needs Java 17+",
)


def test_admin_client_creates_topic(
    kafka_admin: KafkaSettings, unique_name: Callable[[str], str]
) -> None:
    topic = unique_name("harness-create")
    admin = KafkaAdminClient(**kafka_admin.kafka_python(), client_id=unique_name("admin"))
    try:
        admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 1}})
        assert topic in admin.list_topics()
        described = admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 3
        admin.delete_topics([topic])
    finally:
        admin.close()


def test_consumer_group_consumes_produced_record(
    kafka_admin: KafkaSettings, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("harness-cg"), unique_name("group")
    admin = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
        producer = KafkaProducer(**kafka_admin.kafka_python(), acks="all")
        producer.send(topic, key=b"case-17", value=b'{"alert": "amber"}').get(timeout=30)
        producer.close()

        consumer = KafkaConsumer(
            topic,
            **kafka_admin.kafka_python(),
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=20_000,
        )
        try:
            record = next(iter(consumer))
            consumer.commit()
        finally:
            consumer.close()
        assert (record.key, record.value) == (b"case-17", b'{"alert": "amber"}')

        offsets = admin.list_group_offsets(group)[group]
        assert offsets[TopicPartition(topic, 0)].offset == 1
    finally:
        admin.close()


@needs_java
def test_stop_keeps_logs_and_state(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cluster = KafkaCluster(nodes=1, run_dir=run_dir)
    with cluster:
        state = read_state(run_dir)
        assert state["bootstrap_servers"] == cluster.bootstrap_servers
        assert len(state["pids"]) == 1
        pid = state["pids"][0]
        node = cluster.nodes[0]
        assert "process.roles=broker,controller" in node.config_file.read_text()
    # after stop: the process is gone, the logs stay
    assert not Path(f"/proc/{pid}").exists()
    assert "Kafka Server started" in node.server_log.read_text()
    assert node.stdout_log.is_file()
    assert read_state(run_dir)["pids"] == []


@needs_java
def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    cluster = KafkaCluster(nodes=1, run_dir=tmp_path / "run", startup_timeout=60)
    # Take the broker's port first: Kafka cannot bind its listener and exits.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cluster.nodes[0].port))
        squatter.listen()
        with pytest.raises(BrokerError) as caught:
            cluster.start()
    message = str(caught.value)
    assert "Kafka process died" in message
    assert str(cluster.nodes[0].server_log) in message
    assert cluster.nodes[0].process is None  # reaped


@needs_java
def test_cli_start_prints_bootstrap_and_stops_on_sigterm(tmp_path: Path) -> None:
    run_dir = tmp_path / "cli"
    out = (tmp_path / "cli.out").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "homeward.broker", "start", "--run-dir", str(run_dir)],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        bootstrap = None
        while time.monotonic() < deadline and proc.poll() is None:
            for line in (tmp_path / "cli.out").read_text().splitlines():
                if line.startswith("BOOTSTRAP="):
                    bootstrap = line.split("=", 1)[1]
            if bootstrap:
                break
            time.sleep(0.25)
        assert bootstrap, (tmp_path / "cli.out").read_text()
        state = json.loads((run_dir / STATE_FILE_NAME).read_text())
        assert state["bootstrap_servers"] == bootstrap
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            assert admin.describe_cluster()["brokers"]
        finally:
            admin.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        out.close()
    assert code == 0, (tmp_path / "cli.out").read_text()
    assert read_state(run_dir)["pids"] == []


def test_testcontainers_path_skips_cleanly_without_docker(tmp_path: Path) -> None:
    if docker_available():
        pytest.skip("a Docker engine answers here: the skip path cannot be exercised")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.fixtures.kafka"]\n')
    (tmp_path / "test_tc.py").write_text(
        textwrap.dedent(
            """
            def test_needs_kafka(kafka_bootstrap):
                raise AssertionError("must not run without Docker")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env["HOMEWARD_USE_TESTCONTAINERS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "1 skipped" in output, output
    assert "HOMEWARD_USE_TESTCONTAINERS=1" in output, output


@needs_java
def test_three_nodes_replicate_and_survive_one_stopping(tmp_path: Path) -> None:
    """The shape later replication tests build on: three brokers on loopback."""
    with KafkaCluster(nodes=3, run_dir=tmp_path / "trio") as cluster:
        assert cluster.replication_factor == 3
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
        try:
            admin.create_topics(
                {
                    "trio.events.v1": {
                        "num_partitions": 3,
                        "replication_factor": 3,
                        "configs": {"min.insync.replicas": "2"},
                    }
                }
            )
            (described,) = admin.describe_topics(["trio.events.v1"])
            assert all(len(p["replica_nodes"]) == 3 for p in described["partitions"])
        finally:
            admin.close()
        cluster.stop_node(2)
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        try:
            for i in range(10):
                producer.send("trio.events.v1", key=b"k%d" % i, value=b"v%d" % i).get(60)
        finally:
            producer.close()
        consumer = KafkaConsumer(
            "trio.events.v1",
            bootstrap_servers=cluster.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
            consumer_timeout_ms=20000,
        )
        try:
            values = set()
            for m in consumer:
                values.add(m.value)
                if len(values) == 10:
                    break
        finally:
            consumer.close()
        assert values == {b"v%d" % i for i in range(10)}
