"""LogFollower.sync on the real broker: once it returns True, everything written
to the topic before it was called has been applied, however many callers share
its end-offsets queries."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from homeward import kafka as hkafka
from homeward.codec import Record
from homeward.errors import PublishUnavailable
from homeward.log_follower import LogFollower
from tests.fixtures.bus import Bus

pytestmark = pytest.mark.integration

CALLERS = 8
WRITES = 15


def test_sync_sees_what_was_written_before_it_with_many_callers_at_once(bus: Bus) -> None:
    topic = bus.topic("intake_requests")
    applied: set[bytes] = set()
    lock = threading.Lock()

    def apply(rec: Any) -> None:
        with lock:
            applied.add(rec.value)

    follower = LogFollower(
        bus.settings_for("intake"), topic, apply, name="test", startup_timeout_seconds=30
    )
    producer = hkafka.producer(bus.settings)
    follower.start()
    try:

        def caller(n: int) -> int:
            missed = 0
            for i in range(WRITES):
                value = f"synthetic-{n}-{i}".encode()
                # Another instance's write, acknowledged before this caller syncs.
                hkafka.send_all(producer, [(topic, Record(f"key-{n}".encode(), value, []))])
                assert follower.sync(10.0)
                with lock:
                    missed += value not in applied
            return missed

        with ThreadPoolExecutor(CALLERS) as pool:
            missed = list(pool.map(caller, range(CALLERS)))
        assert missed == [0] * CALLERS
        assert len(applied) == CALLERS * WRITES
    finally:
        follower.close()
        producer.close(timeout=5)
    assert follower.sync(0.1) is False  # closed: nothing to wait for


def test_a_start_that_runs_out_of_time_is_gone_on_from_not_begun_again(bus: Bus) -> None:
    """A log that takes longer to read than one start's timeout (a restarted gateway's
    inboxes on a busy machine) is read across tries, each record applied once; before,
    each try began at offset 0 again and a long enough log was never read."""
    topic = bus.topic("intake_requests")
    producer = hkafka.producer(bus.settings)
    values = [f"synthetic-slow-{i}".encode() for i in range(1500)]
    hkafka.send_all(producer, [(topic, Record(b"key", v, [])) for v in values])
    producer.close(timeout=5)
    applied: list[bytes] = []

    def apply(rec: Any) -> None:
        applied.append(rec.value)
        time.sleep(0.002)  # a slow apply: the log takes 3 s, one start has 1 s

    follower = LogFollower(
        bus.settings_for("intake"), topic, apply, name="test", startup_timeout_seconds=1
    )
    tries = 0
    try:
        while True:
            tries += 1
            try:
                follower.start()
                break
            except PublishUnavailable:
                assert tries < 20
    finally:
        follower.close()
    assert tries > 1
    mine = [v for v in applied if v.startswith(b"synthetic-slow-")]
    assert mine == values  # each once, in order
