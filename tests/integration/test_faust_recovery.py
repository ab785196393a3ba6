"""A Faust worker that restarts with a backlog on its input handles every record
(homeward.faust_patches; docs/delivery-guarantees.md, "Faust after a kill").

The app is built by homeward.faust_app.make_app, as the fan-out, the router and
the detector are, and runs as a real worker subprocess. Its table's changelog
holds a record, so the worker recovers it first and its fetcher is running
when the recovery completes. The app's script holds the seek to committed
offsets open until three input records have been handed to the agent's queue
(a slow seek on a busy broker), and the agent holds its first record until the
recovery has completed: the records still queued then are the ones unpatched
Faust clears, never to fetch them again. With the fix no input record is handed
out before the seek is done, so the hold ends at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from homeward.settings import KafkaSettings
from tests.integration.test_faust_smoke import _admin_env, _read_all, _tail

pytestmark = pytest.mark.integration

RECORDS = 12
DEADLINE_S = 45.0

APP_SOURCE = """
import asyncio
import os
import types

from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP

from homeward.faust_app import make_app
from homeward.settings import KafkaSettings

source_name = os.environ["RECOVERY_IN"]
app = make_app(
    os.environ["RECOVERY_APP_ID"],
    KafkaSettings(),
    types.SimpleNamespace(partitions=1, replication=1),
)
source = app.topic(source_name, key_type=bytes, value_type=bytes)
output = app.topic(os.environ["RECOVERY_OUT"], key_type=bytes, value_type=bytes)
seen = app.Table("seen", default=None, key_type=bytes, value_type=bytes, partitions=1)

_seek = Consumer.perform_seek


async def held_seek(self):
    await _seek(self)
    tp = TP(source_name, 0)
    deadline = asyncio.get_running_loop().time() + 10
    # Nothing can be handed out while the input partition is paused: no hold then.
    while (
        tp in self._get_active_partitions()
        and (self._read_offset[tp] or 0) < 2
        and asyncio.get_running_loop().time() < deadline
    ):
        await asyncio.sleep(0.02)


Consumer.perform_seek = held_seek


@app.agent(source)
async def copy(stream):
    async for event in stream.events():
        await app.tables.recovery.completed.wait()
        seen[event.key] = event.value
        await output.send(key=event.key, value=event.value)


if __name__ == "__main__":
    app.main()
"""


def test_a_worker_restarted_with_a_backlog_handles_every_record(
    kafka_admin: KafkaSettings, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    app_id = unique_name("faust-recovery")
    topic_in, topic_out = unique_name("recovery-in"), unique_name("recovery-out")
    changelog = f"{app_id}-seen-changelog"
    admin = KafkaAdminClient(**kafka_admin.kafka_python())
    try:
        admin.create_topics(
            [
                NewTopic(topic_in, 1, 1),
                NewTopic(topic_out, 1, 1),
                NewTopic(changelog, 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
    finally:
        admin.close()
    # The state a previous run left, and the backlog it did not get to.
    producer = KafkaProducer(**kafka_admin.kafka_python(), acks="all")
    producer.send(changelog, key=b"earlier", value=b"r-earlier")
    sent = [f"r{i:02d}".encode() for i in range(RECORDS)]
    for value in sent:
        producer.send(topic_in, key=value, value=value)
    producer.flush(timeout=30)
    producer.close()

    script = tmp_path / "recovery_app.py"
    script.write_text(APP_SOURCE)
    log_path = tmp_path / "worker.log"
    env = dict(
        os.environ,
        RECOVERY_APP_ID=app_id,
        RECOVERY_IN=topic_in,
        RECOVERY_OUT=topic_out,
        HOMEWARD_KAFKA_BOOTSTRAP_SERVERS=kafka_admin.bootstrap_servers,
        **_admin_env(kafka_admin),
        F_DATADIR=str(tmp_path / "faust-data"),
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
        out = _read_all(kafka_admin, topic_out, RECORDS, time.monotonic() + DEADLINE_S)
        assert worker.poll() is None, f"faust worker exited:\n{_tail(log_path)}"
        got = sorted({r.value for r in out})
        missing = sorted(set(sent) - set(got))
        assert not missing, f"never handled {missing}; worker log:\n{_tail(log_path)}"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
