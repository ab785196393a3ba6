"""Following a topic into memory: read every partition to its end at start,
then keep tailing it in a background thread.

Every intake instance reads the whole topic (no consumer group, no offsets to
commit), so all instances hold the same view and a restarted one rebuilds it
from the log: Kafka is the only state (GUIDE). `sync()` answers "have I read
everything that was on the topic when I asked?", which is what a decision
needs before it trusts the view. The idempotency store and the referral read
model both follow their topic with this.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.errors import ConfigError
from homeward.settings import KafkaSettings
from homeward_intake.publisher import PublishUnavailable

log = logging.getLogger(__name__)

POLL_MS = 50  # also how long a sync() may wait before the tail thread sees it
PROBE_EVERY_SECONDS = 5.0
HOUSEKEEPING_EVERY_SECONDS = 60.0


class LogFollower:
    """Hands every record of `topic` to `apply`, in partition order, from one thread."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        apply: Callable[[Any], None],
        *,
        name: str,
        startup_timeout_seconds: float = 30.0,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every_seconds: float = HOUSEKEEPING_EVERY_SECONDS,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.apply = apply
        self.name = name
        self.startup_timeout = startup_timeout_seconds
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every_seconds
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._barriers: queue.SimpleQueue[threading.Event] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reachable = True

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Read the topic to its end; raise if Kafka or the topic is not there."""
        if self.running():
            return
        timeout_ms = int(self.startup_timeout * 1000)
        try:
            consumer = hkafka.consumer(
                self.settings,
                group_id=None,  # every instance reads everything; no offsets to commit
                bootstrap_timeout_ms=timeout_ms,
                fetch_max_wait_ms=POLL_MS * 2,
                request_timeout_ms=max(timeout_ms, 1000),
            )
        except KafkaError as exc:
            raise PublishUnavailable(f"cannot reach Kafka to read {self.topic}: {exc}") from exc
        try:
            tps = self._assign(consumer)
            self._catch_up(consumer, tps, time.monotonic() + self.startup_timeout)
        except BaseException:
            consumer.close()
            raise
        self._caught_up.set()
        # The consumer now belongs to the tail thread alone (it is not thread-safe).
        self._thread = threading.Thread(
            target=self._tail, args=(consumer, tps), name=f"intake-{self.name}-tail", daemon=True
        )
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ready(self) -> bool:
        return self.running() and self._caught_up.is_set() and self._reachable

    def sync(self, timeout: float) -> bool:
        """Wait until everything on the topic now has been applied; False on timeout."""
        if not self.ready():
            return False
        barrier = threading.Event()
        self._barriers.put(barrier)
        return barrier.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- reading -----------------------------------------------------------------
    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            raise ConfigError(
                "topic not found; apply the topology first (homeward topology apply)",
                field=f"topics.{self.topic}",
            )
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return tps

    def _catch_up(
        self, consumer: KafkaConsumer, tps: list[TopicPartition], deadline: float
    ) -> None:
        """Read until every partition reaches the end offsets it has now."""
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        targets = consumer.end_offsets(tps, timeout_ms=remaining_ms)
        while True:
            behind = [
                tp
                for tp in tps
                if (consumer.position(tp, timeout_ms=remaining_ms) or 0) < targets[tp]
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise PublishUnavailable(
                    f"could not read {self.topic} to its end in time; {len(behind)} partitions behind"
                )
            self._apply_batches(consumer.poll(timeout_ms=POLL_MS))
            remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)

    def _apply_batches(self, batches: dict[Any, Any]) -> None:
        for records in batches.values():
            for rec in records:
                self.apply(rec)

    def _tail(self, consumer: KafkaConsumer, tps: list[TopicPartition]) -> None:
        last_probe = last_housekeeping = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    self._apply_batches(consumer.poll(timeout_ms=POLL_MS))
                    now = time.monotonic()
                    waiting = self._take_barriers()
                    if waiting or now - last_probe > PROBE_EVERY_SECONDS:
                        # Reading up to the current end answers the waiting syncs and
                        # doubles as the readiness probe: a real broker round trip.
                        self._catch_up(consumer, tps, now + min(self.startup_timeout, 10.0))
                        self._reachable = True
                        last_probe = now
                        for barrier in waiting:
                            barrier.set()
                    if self.housekeeping and now - last_housekeeping > self.housekeeping_every:
                        self.housekeeping()
                        last_housekeeping = now
                except Exception as exc:  # keep tailing; readiness reports it
                    if self._reachable:
                        log.warning("%s log %s unreachable: %s", self.name, self.topic, exc)
                    self._reachable = False
                    last_probe = time.monotonic()
                    self._stop.wait(1.0)
        finally:
            consumer.close()

    def _take_barriers(self) -> list[threading.Event]:
        taken: list[threading.Event] = []
        while True:
            try:
                taken.append(self._barriers.get_nowait())
            except queue.Empty:
                return taken
