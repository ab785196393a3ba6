"""Consumer lag of a service's own group, per topic partition, as the
homeward_consumer_lag gauge: a background thread asks the broker every few
seconds for the group's committed offsets (the admin client) and each
partition's end offset (a group-less consumer), and sets the gauge to the
difference.

The thread never takes the service down: a failed round is tried again with
new clients, and a streak of failures is logged once. The time of
the last round that succeeded doubles as the readiness check "Kafka is
reachable" (`reachable`). stop() ends the thread and closes its clients.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from homeward.kafka import beginning_offsets, end_offsets
from homeward.metrics import CONSUMER_LAG
from homeward.settings import KafkaSettings

log = logging.getLogger(__name__)

Labels = tuple[str, str, str, str]


def lag_by_partition(
    partitions: Iterable[TopicPartition],
    committed: Mapping[TopicPartition, int],
    beginning: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Records behind the end of each partition whose end is known.

    A partition the group never committed is behind by all it holds (the
    services start from the earliest record); a commit below the first record
    still held (retention deleted the rest) counts from that record."""
    out: dict[TopicPartition, int] = {}
    for tp in partitions:
        if tp not in end:
            continue
        first = beginning.get(tp, 0)
        position = committed.get(tp, -1)
        out[tp] = max(0, end[tp] - max(position, first))
    return out


def committed_offsets(admin: Any, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets, in the API of kafka-python 3 or of 2.x."""
    if hasattr(admin, "list_group_offsets"):
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    else:
        offsets = admin.list_consumer_group_offsets(group)
    return {tp: int(meta.offset) for tp, meta in offsets.items() if meta.offset is not None}


class LagReporter:
    """Keeps homeward_consumer_lag{service, group, topic, partition} current."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        service: str,
        group: str,
        topics: Sequence[str],
        interval_seconds: float = 5.0,
        stale_after_seconds: float | None = None,
        admin_factory: Callable[[], Any] | None = None,
        consumer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.service = service
        self.group = group
        self.topics = list(topics)
        self.interval = interval_seconds
        self.stale_after = stale_after_seconds or max(30.0, 3 * interval_seconds)
        timeout_ms = int(max(5.0, interval_seconds) * 1000)
        client_id = f"{group}-lag"
        self._new_admin = admin_factory or (
            lambda: KafkaAdminClient(
                client_id=client_id, request_timeout_ms=timeout_ms, **settings.kafka_python()
            )
        )
        self._new_consumer = consumer_factory or (
            lambda: KafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                client_id=client_id,
                request_timeout_ms=timeout_ms + 1000,  # must exceed the fetch wait
                **settings.kafka_python(),
            )
        )
        self._admin: Any = None
        self._consumer: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="homeward-lag", daemon=True)
        self._shown: set[Labels] = set()
        self._failures = 0  # rounds failed in a row
        self.last_ok: float | None = None  # time.monotonic() of the last good round
        self.last_error: str | None = None

    # -- one round -------------------------------------------------------------
    def poll_once(self) -> dict[TopicPartition, int]:
        """Ask the broker once; set the gauge; return the lag per partition."""
        if self._admin is None:
            self._admin = self._new_admin()
        if self._consumer is None:
            self._consumer = self._new_consumer()
        committed = committed_offsets(self._admin, self.group)
        partitions = {tp for tp in committed if tp.topic in self.topics}
        for topic in self.topics:
            for p in self._consumer.partitions_for_topic(topic) or ():
                partitions.add(TopicPartition(topic, p))
        ordered = sorted(partitions)
        end = end_offsets(self._consumer, ordered)
        never = [tp for tp in ordered if tp not in committed]
        beginning = beginning_offsets(self._consumer, never)
        lag = lag_by_partition(ordered, committed, beginning, end)
        self._publish(lag)
        return lag

    def _publish(self, lag: Mapping[TopicPartition, int]) -> None:
        shown: set[Labels] = set()
        for tp, behind in lag.items():
            labels = (self.service, self.group, tp.topic, str(tp.partition))
            CONSUMER_LAG.labels(*labels).set(behind)
            shown.add(labels)
        # A partition no longer read (a topic gone) must not keep its last value.
        for gone in self._shown - shown:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(*gone)
        self._shown = shown

    # -- the thread ------------------------------------------------------------
    def start(self) -> LagReporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while True:
                self._round()
                if self._stop.wait(self.interval):
                    return
        finally:
            self._close_clients()

    def _round(self) -> None:
        try:
            self.poll_once()
        except Exception as exc:  # Kafka trouble or a bug: log it, never stop the service
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._failures += 1
            # Once per streak, from its second round: a coordinator still being
            # elected when a worker starts is not worth a warning.
            level = logging.WARNING if self._failures == 2 else logging.DEBUG
            log.log(level, "consumer lag of %s not read: %s", self.group, self.last_error)
            self._close_clients()  # rebuilt next round: a broken connection is not reused
            return
        if self._failures >= 2:
            log.info("consumer lag of %s read again", self.group)
        self._failures = 0
        self.last_error = None
        self.last_ok = time.monotonic()

    def _close_clients(self) -> None:
        for client in (self._admin, self._consumer):
            if client is None:
                continue
            try:
                client.close()
            except Exception:  # closing is best effort; the thread is ending or retrying
                log.debug("closing a lag client failed", exc_info=True)
        self._admin = self._consumer = None

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread (after its current round) and close its clients."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- readiness -------------------------------------------------------------
    def reachable(self) -> str | None:
        """Readiness check: None while the last round within stale_after succeeded."""
        if self._stop.is_set():
            return "stopping"
        if self.last_ok is None:
            return f"Kafka not reached yet{self._why()}"
        age = time.monotonic() - self.last_ok
        if age > self.stale_after:
            return f"Kafka not reached for {age:.0f}s{self._why()}"
        return None

    def _why(self) -> str:
        return f" ({self.last_error})" if self.last_error else ""
