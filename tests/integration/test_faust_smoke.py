"""faust-streaming (over aiokafka) works against the project's Kafka version.

A minimal faust app (an agent on a topic, a Table with a changelog, an output topic) runs as a
real ``worker`` subprocess; the test produces with kafka-python and waits, bounded, for the
agent's output and the table's changelog records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from homeward.settings import KafkaSettings

pytestmark = pytest.mark.integration

OUTPUT_DEADLINE_S = 45.0

APP_SOURCE = """
import json
import os

import faust

from homeward.faust_app import credentials
from homeward.settings import KafkaSettings

app = faust.App(
    os.environ["SMOKE_APP_ID"],
    broker="kafka://" + os.environ["SMOKE_BOOTSTRAP"],
    # SCRAM on the secured broker, as every Homeward Faust app connects.
    broker_credentials=credentials(KafkaSettings()),
    store="memory://",
    topic_partitions=1,
    topic_replication_factor=1,
    datadir=os.environ["SMOKE_DATADIR"],
)
source = app.topic(os.environ["SMOKE_IN"], key_type=bytes, value_type=bytes,
                   value_serializer="raw")
output = app.topic(os.environ["SMOKE_OUT"], key_type=bytes, value_type=bytes,
                   value_serializer="raw")
counts = app.Table("counts", default=int, partitions=1)


@app.agent(source)
async def count(stream):
    async for key, value in stream.items():
        name = key.decode()
        counts[name] += 1
        body = {"key": name, "count": counts[name], "value": value.decode()}
        await output.send(key=key, value=json.dumps(body).encode())


if __name__ == "__main__":
    app.main()
"""


def _read_all(admin: KafkaSettings, topic: str, want: int, deadline: float) -> list[Any]:
    consumer = KafkaConsumer(
        enable_auto_commit=False, consumer_timeout_ms=500, **admin.kafka_python()
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        records: list[Any] = []
        while len(records) < want and time.monotonic() < deadline:
            records.extend(consumer)
        return records
    finally:
        consumer.close()


def _admin_env(admin: KafkaSettings) -> dict[str, str]:
    env = {"HOMEWARD_KAFKA_SECURITY_PROTOCOL": admin.security_protocol}
    if admin.sasl_username and admin.sasl_password is not None:
        env["HOMEWARD_KAFKA_SASL_MECHANISM"] = admin.sasl_mechanism or "SCRAM-SHA-512"
        env["HOMEWARD_KAFKA_SASL_USERNAME"] = admin.sasl_username
        env["HOMEWARD_KAFKA_SASL_PASSWORD"] = admin.sasl_password.get_secret_value()
    return env


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def test_faust_worker_counts_into_table_and_produces(
    kafka_admin: KafkaSettings, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    app_id = unique_name("faust-smoke")
    topic_in, topic_out = unique_name("smoke-in"), unique_name("smoke-out")
    changelog = f"{app_id}-counts-changelog"

    # The broker has auto.create.topics.enable=false: faust creates its own internal topics
    # (assignor, changelog); the app's source and output topics are created up front.
    admin = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        admin.create_topics(
            {
                topic_in: {"num_partitions": 1, "replication_factor": 1},
                topic_out: {"num_partitions": 1, "replication_factor": 1},
            }
        )
    finally:
        admin.close()

    script = tmp_path / "smoke_app.py"
    script.write_text(APP_SOURCE)
    log_path = tmp_path / "worker.log"
    env = dict(
        os.environ,
        SMOKE_APP_ID=app_id,
        SMOKE_BOOTSTRAP=kafka_admin.bootstrap_servers,
        **_admin_env(kafka_admin),
        SMOKE_IN=topic_in,
        SMOKE_OUT=topic_out,
        SMOKE_DATADIR=str(tmp_path / "faust-data"),
        PYTHONUNBUFFERED="1",
    )
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, str(script), "worker", "-l", "info", "--without-web"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        producer = KafkaProducer(**kafka_admin.kafka_python(), acks="all")
        sent = [(b"b", b"m0"), (b"a", b"m1"), (b"b", b"m2"), (b"a", b"m3")]
        for key, value in sent:
            producer.send(topic_in, key=key, value=value)
        producer.flush(timeout=30)
        producer.close()

        deadline = time.monotonic() + OUTPUT_DEADLINE_S
        out = _read_all(kafka_admin, topic_out, len(sent), deadline)
        assert worker.poll() is None, f"faust worker exited:\n{_tail(log_path)}"
        bodies = [json.loads(r.value) for r in out]
        assert bodies == [
            {"key": "b", "count": 1, "value": "m0"},
            {"key": "a", "count": 1, "value": "m1"},
            {"key": "b", "count": 2, "value": "m2"},
            {"key": "a", "count": 2, "value": "m3"},
        ], f"output so far {bodies}; worker log:\n{_tail(log_path)}"

        # Every table write went to the changelog topic faust created itself.
        changes = _read_all(kafka_admin, changelog, len(sent), deadline + 10)
        latest = {json.loads(r.key): json.loads(r.value) for r in changes}
        assert latest == {"a": 2, "b": 2}, f"changelog {changes}:\n{_tail(log_path)}"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
