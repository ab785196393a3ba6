"""Following a topic into memory: read every partition to its end at start,
then keep tailing it in a background thread.

Every instance of a service reads the whole topic (no consumer group, no offsets to
commit), so all instances hold the same view and a restarted one rebuilds it
from the log: Kafka is the only state (GUIDE). `sync()` answers "have I read
everything that was on the topic when I asked?", which is what a decision
needs before it trusts the view. Intake's idempotency store and read models,
and the agency gateway's inboxes, follow their topics with this.

sync() is on the path of every request with an Idempotency-Key, so it costs
one broker round trip, shared by the requests waiting at the same time: the
caller asks for the end offsets itself, on a client of its own (a request on
the tail's connection would queue behind the tail's long-polling fetch), then
waits until the tail thread has applied up to them; the tail wakes it as it
applies records, so nothing waits on a polling interval.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.errors import ConfigError, PublishUnavailable
from homeward.settings import KafkaSettings

log = logging.getLogger(__name__)

POLL_MS = 50
PROBE_EVERY_SECONDS = 5.0
HOUSEKEEPING_EVERY_SECONDS = 60.0


class _Behind(PublishUnavailable):
    """The log was not read to its end in time; the reading so far is kept."""


class LogFollower:
    """Hands every record of `topic` to `apply`, in partition order, from one thread.

    `topic` may be several topics (the gateway follows every inbox with one
    thread and one connection); sync() then covers them all."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str | Sequence[str],
        apply: Callable[[Any], None],
        *,
        name: str,
        startup_timeout_seconds: float = 30.0,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every_seconds: float = HOUSEKEEPING_EVERY_SECONDS,
    ) -> None:
        self.settings = settings
        self.topics = [topic] if isinstance(topic, str) else list(topic)
        self.topic = ", ".join(self.topics)
        self.apply = apply
        self.name = name
        self.startup_timeout = startup_timeout_seconds
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every_seconds
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._reachable = True
        self._tps: list[TopicPartition] = []
        # The position after what the tail has applied, per partition; waited on by sync().
        self._applied: dict[TopicPartition, int] = {}
        self._progress = threading.Condition()
        # sync()'s own client, one end-offsets query at a time; a query sent after a
        # caller asked answers it too (`_answered_from` is that query's ticket).
        self._offsets: KafkaConsumer | None = None
        self._offsets_lock = threading.Lock()
        # A start() that ran out of time leaves its consumer here, at the positions it
        # reached, for the next start() to go on from: a log longer than one timeout's
        # reading is read across tries, not from its beginning again each time.
        self._pending: tuple[KafkaConsumer, list[TopicPartition]] | None = None
        self._tickets = itertools.count()
        self._answered_from = -1
        self._answer: dict[TopicPartition, int] = {}

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Read the topic to its end; raise if Kafka or the topic is not there."""
        if self.running():
            return
        if self._pending is not None:
            (consumer, tps), self._pending = self._pending, None
        else:
            consumer = self._client()
            try:
                tps = self._assign(consumer)
            except BaseException:
                consumer.close()
                raise
        try:
            self._catch_up(consumer, tps, time.monotonic() + self.startup_timeout)
            self._offsets = self._offsets or self._client()
        except _Behind:
            self._pending = (consumer, tps)
            raise
        except BaseException:
            consumer.close()
            raise
        self._tps = tps
        self._applied_up_to(consumer)
        self._caught_up.set()
        # The consumer now belongs to the tail thread alone (it is not thread-safe).
        self._thread = threading.Thread(
            target=self._tail, args=(consumer, tps), name=f"{self.name}-tail", daemon=True
        )
        self._thread.start()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ready(self) -> bool:
        return self.running() and self._caught_up.is_set() and self._reachable

    def sync(self, timeout: float) -> bool:
        """Wait until everything on the topic now has been applied; False on
        timeout or when the broker cannot tell where the topic ends."""
        if not self.ready():
            return False
        deadline = time.monotonic() + timeout
        targets = self._end_offsets(deadline)
        if targets is None:
            return False
        with self._progress:
            return self._progress.wait_for(
                lambda: all(self._applied.get(tp, 0) >= end for tp, end in targets.items()),
                max(deadline - time.monotonic(), 0.0),
            )

    def close(self) -> None:
        self._stop.set()
        if self._pending is not None:
            self._pending[0].close()
            self._pending = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._offsets_lock:
            if self._offsets is not None:
                self._offsets.close()
                self._offsets = None

    # -- reading -----------------------------------------------------------------
    def _client(self) -> KafkaConsumer:
        timeout_ms = int(self.startup_timeout * 1000)
        try:
            return hkafka.consumer(
                self.settings,
                group_id=None,  # every instance reads everything; no offsets to commit
                bootstrap_timeout_ms=timeout_ms,
                fetch_max_wait_ms=POLL_MS * 2,
                request_timeout_ms=max(timeout_ms, 1000),
            )
        except KafkaError as exc:
            raise PublishUnavailable(f"cannot reach Kafka to read {self.topic}: {exc}") from exc

    def _end_offsets(self, deadline: float) -> dict[TopicPartition, int] | None:
        """The topic's end offsets as of a query sent after this call began;
        None if the broker did not answer by `deadline`."""
        asked = next(self._tickets)
        if not self._offsets_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            return None
        try:
            if self._answered_from > asked:
                return self._answer  # sent while this caller waited for the lock
            if self._offsets is None:
                return None  # closed
            sent = next(self._tickets)
            remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)
            try:
                answer = hkafka.end_offsets(self._offsets, self._tps, remaining_ms)
            except KafkaError as exc:
                log.debug("%s log %s: end offsets unavailable: %s", self.name, self.topic, exc)
                return None
            self._answered_from, self._answer = sent, dict(answer)
            return self._answer
        finally:
            self._offsets_lock.release()

    def _applied_up_to(self, consumer: KafkaConsumer) -> None:
        """Publish the tail's positions (everything before them is applied) to sync()."""
        positions = {tp: consumer.position(tp, timeout_ms=1000) or 0 for tp in self._tps}
        with self._progress:
            if positions != self._applied:
                self._applied = positions
                self._progress.notify_all()

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        tps: list[TopicPartition] = []
        for topic in self.topics:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise ConfigError(
                    "topic not found; apply the topology first (homeward topology apply)",
                    field=f"topics.{topic}",
                )
            tps += [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return tps

    def _catch_up(
        self, consumer: KafkaConsumer, tps: list[TopicPartition], deadline: float
    ) -> None:
        """Read until every partition reaches the end offsets it has now."""
        remaining_ms = max(int((deadline - time.monotonic()) * 1000), 1)
        targets = hkafka.end_offsets(consumer, tps, remaining_ms)
        while True:
            behind = [
                tp
                for tp in tps
                if (consumer.position(tp, timeout_ms=remaining_ms) or 0) < targets[tp]
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise _Behind(
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
                    self._applied_up_to(consumer)
                    now = time.monotonic()
                    if now - last_probe > PROBE_EVERY_SECONDS:
                        # The readiness probe: a real broker round trip.
                        self._catch_up(consumer, tps, now + min(self.startup_timeout, 10.0))
                        self._applied_up_to(consumer)
                        self._reachable = True
                        last_probe = now
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


class FollowedView:
    """A read model kept by following one topic of events: each record is
    decoded and its event handed to `apply_event`; what cannot be decoded is
    skipped and counted, never fatal (the topic's own consumer dead-letters it,
    and a view is a convenience, not the authority). Logged with the field and
    the reason only, never the content."""

    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        *,
        name: str,
        codec: Codec | None = None,
        startup_timeout_seconds: float = 30.0,
    ) -> None:
        self.topic = topic
        self.codec = codec or Codec()
        self.skipped = 0
        self.follower = LogFollower(
            settings,
            topic,
            self._apply_record,
            name=name,
            startup_timeout_seconds=startup_timeout_seconds,
        )

    def apply_event(self, event: Any, event_id: str) -> None:
        raise NotImplementedError

    def known(self) -> int:
        """How many things the view holds (for the start-up log line)."""
        return 0

    def start(self) -> None:
        if self.follower.running():
            return
        self.follower.start()
        log.info("%s read: %d known", self.topic, self.known())

    def ready(self) -> bool:
        return self.follower.ready()

    def sync(self, timeout: float) -> bool:
        return self.follower.sync(timeout)

    def close(self) -> None:
        self.follower.close()

    def _apply_record(self, rec: Any) -> None:
        try:
            decoded = self.codec.decode(rec.value, rec.headers)
        except Exception as exc:  # not ours to crash on
            self.skipped += 1
            field, reason = describe(exc)
            log.warning(
                "skipping %s[%d]@%d: field=%s reason=%s",
                rec.topic,
                rec.partition,
                rec.offset,
                field or "-",
                reason,
            )
            return
        self.apply_event(decoded.event, decoded.meta.id)
