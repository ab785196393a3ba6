"""The webhook dispatcher: reads every inbox topic in its own consumer group
and POSTs each delivery addressed to an agency with a registered endpoint.

- One worker thread and queue per endpoint: an agency's deliveries go out in
  inbox order, one at a time, and a dead endpoint (retrying, then
  dead-lettering) holds up only its own agency.
- Offsets are committed by the commit rule (offsets.py): never past a
  delivery that is not yet delivered or dead-lettered. A killed gateway
  re-sends, at worst, what it had sent and not committed; the receiver drops
  those copies by their `webhook-id`, which is the same.
- A dead letter and the final receipt are confirmed by the broker before
  the delivery counts as settled.
- Reading pauses while more than `max_in_flight` deliveries are unsettled.
- Several gateway replicas share the inbox partitions by a static shard
  index (settings.py), so each delivery is POSTed by one of them.

Threads, not asyncio: the Kafka client (kafka-python, the project's) is
blocking, and a few hundred endpoint threads are cheap; the dispatcher runs
the same inside the gateway process (mount) or alone (`run`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from homeward import kafka
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.errors import ConfigError, HomewardError
from homeward.events.webhooks import WebhookOutcome
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.delivery import decode_delivery, record_key
from homeward_gateway.webhooks import metrics
from homeward_gateway.webhooks.backoff import Backoff
from homeward_gateway.webhooks.offsets import OffsetTracker
from homeward_gateway.webhooks.records import Job, dead_letter_record, receipt
from homeward_gateway.webhooks.registry import Endpoint, Registry
from homeward_gateway.webhooks.sender import Attempt, Outcome, Policy, deliver, new_client
from homeward_gateway.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)

RECEIPTS = "webhook_receipts"
DEAD_LETTERS = "webhook_dead_letters"


def inbox_topics(topology: Topology) -> list[str]:
    return [topology.inbox(t).name for t in AgencyType]


class Outbox:
    """Receipts and dead letters to the bus, through one shared producer."""

    def __init__(self, producer: kafka.Producer, topology: Topology, codec: Codec) -> None:
        self.producer = producer
        self.codec = codec
        self.receipts = topology.get(RECEIPTS).name
        self.dead_letters = topology.get(DEAD_LETTERS).name

    def receipt(
        self,
        job: Job,
        outcome: WebhookOutcome,
        result: Attempt | Outcome,
        attempts: int,
    ) -> Any:
        status = result.status if isinstance(result, Attempt) else result.last_status
        record = receipt(self.codec, job, outcome, attempts, status, result.reason)
        return kafka.send(self.producer, self.receipts, record)

    def dead_letter(self, job: Job, outcome: Outcome) -> Any:
        record = dead_letter_record(job, outcome.attempts, outcome.last_status, outcome.reason)
        return kafka.send(self.producer, self.dead_letters, record)


def settle_outcome(
    outbox: Outbox, job: Job, outcome: Outcome, stop: threading.Event, *, dead_letter: bool = True
) -> bool:
    """Write what became of `job` (a dead letter if it failed, its receipt)
    and wait until the broker has them; False if `stop` came first."""
    delay = 0.5
    while True:
        try:
            futures = []
            if outcome.delivered:
                futures.append(outbox.receipt(job, "delivered", outcome, outcome.attempts))
            elif dead_letter:
                futures.append(outbox.dead_letter(job, outcome))
                futures.append(outbox.receipt(job, "dead_lettered", outcome, outcome.attempts))
            else:  # a replay that failed again: it stays in the dead-letter topic
                futures.append(outbox.receipt(job, "failed", outcome, outcome.attempts))
            for future in futures:
                future.get(timeout=30)
            return True
        except Exception as exc:  # the broker is unreachable: try again, never drop it
            log.warning("cannot write the outcome of webhook %s: %s", job.webhook_id, exc)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 30.0)


class EndpointWorker:
    """Delivers one agency's deliveries in order, on its own thread."""

    def __init__(
        self,
        endpoint: Endpoint,
        policy: Policy,
        client: httpx.Client,
        outbox: Outbox,
        settled: Callable[[Job], None],
        stop: threading.Event,
    ) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.client = client
        self.outbox = outbox
        self.settled = settled
        self.stop = stop
        self.queue: queue.Queue[Job] = queue.Queue()
        self.thread = threading.Thread(
            target=self._run, name=f"webhook-{endpoint.agency_id}", daemon=True
        )
        self.thread.start()

    def submit(self, job: Job) -> None:
        self.queue.put(job)

    def _failed_try(self, job: Job) -> Callable[[Attempt, int], None]:
        def report(attempt: Attempt, n: int) -> None:
            # Not waited for: a lost "failed" receipt is followed by the final one.
            self.outbox.receipt(job, "failed", attempt, n)

        return report

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                job = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            outcome = deliver(
                self.client,
                self.endpoint,
                job.webhook_id,
                job.body,
                self.policy,
                self.stop,
                self._failed_try(job),
            )
            if outcome is None:
                return  # stopping: unsettled, so read again after a restart
            if outcome.delivered:
                metrics.DELIVERY_SECONDS.observe(job.latency_ms() / 1000)
            else:
                metrics.DEAD_LETTERS.inc()
                log.warning(
                    "webhook %s to %s dead-lettered after %d tries: %s",
                    job.webhook_id,
                    job.agency_id,
                    outcome.attempts,
                    outcome.reason,
                )
            if not settle_outcome(self.outbox, job, outcome, self.stop):
                return
            self.settled(job)

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)


class Dispatcher:
    """The consumer loop: route each inbox record to its endpoint's worker,
    settle what no webhook takes, commit by the commit rule."""

    def __init__(
        self,
        kafka_settings: KafkaSettings,
        settings: WebhookSettings,
        registry: Registry,
        *,
        topology: Topology | None = None,
        codec: Codec | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.kafka_settings = kafka_settings
        self.settings = settings
        self.registry = registry
        self.topology = topology or Topology.load(prefix=kafka_settings.topic_prefix)
        self.codec = codec or Codec()
        self.policy = Policy(
            settings.max_attempts,
            Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds),
        )
        self._client = client
        self.tracker = OffsetTracker()
        self._lock = threading.Lock()
        self._workers: dict[str, EndpointWorker] = {}
        self.stop_event = threading.Event()  # stop for good
        self._halt = threading.Event()  # stop this run's workers
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once partitions are assigned
        self.error: BaseException | None = None

    # -- running ---------------------------------------------------------------
    def start(self) -> None:
        """Run on a thread of its own (the gateway process), reconnecting
        after a failure until stop() is called."""
        self._thread = threading.Thread(target=self._run_guarded, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout)

    close = stop  # the gateway app's Runner protocol: start() and close()

    def _run_guarded(self) -> None:
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                self.run()
                return
            except Exception as exc:  # Kafka away at start, or lost: start over
                self.error = exc
                log.warning("webhook dispatcher stopped (%s); restarting in %.1fs", exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 30.0)

    def run(self) -> None:
        """Consume until stop_event is set; then commit what is settled. Any
        error ends the run with nothing settled that was not delivered: what
        was in flight is read again by the next run (or the next process)."""
        if not self.registry.endpoints:
            log.info("no webhook endpoints registered; the dispatcher stays idle")
            self.ready.set()
            self.stop_event.wait()
            return
        self._halt = threading.Event()
        if self.stop_event.is_set():
            return
        group = self.kafka_settings.topic_prefix + self.settings.group_id
        consumer = kafka.consumer(self.kafka_settings, group_id=group, max_poll_records=500)
        producer = kafka.producer(self.kafka_settings)
        client = self._client or new_client(self.settings.timeout_seconds)
        outbox = Outbox(producer, self.topology, self.codec)
        try:
            self._assign(consumer)
            self._loop(consumer, outbox, client)
        finally:
            self._halt.set()
            for worker in self._workers.values():
                worker.join(self.settings.timeout_seconds + 1)
            self._commit(consumer)
            self._workers.clear()
            with self._lock:
                self.tracker = OffsetTracker()
            consumer.close()
            producer.close(timeout=10)
            if self._client is None:
                client.close()

    def _assign(self, consumer: KafkaConsumer) -> None:
        """Take this shard's inbox partitions (all of them with one shard).

        Assigned, not subscribed: the group only keeps the committed offsets,
        as the SDK's Subscriber does. Subscribing to sixteen inbox topics made
        kafka-python 3.0's leader rejoin on every metadata refresh during the
        assignment and, now and then, stall in it; a static share
        (HOMEWARD_GATEWAY_WEBHOOKS_SHARD_INDEX / _SHARD_COUNT) cannot."""
        topics = inbox_topics(self.topology)
        deadline = time.monotonic() + 30
        parts: dict[str, set[int]] = {}
        while time.monotonic() < deadline:
            parts = {t: consumer.partitions_for_topic(t) or set() for t in topics}
            if all(parts.values()):
                break
            time.sleep(0.1)  # a new topic's metadata may lag (see homeward.kafka.consumer)
        missing = sorted(t for t, ps in parts.items() if not ps)
        if missing:
            raise ConfigError(f"inbox topics not found: {missing}", field="topics.inbox")
        every = [TopicPartition(t, p) for t in topics for p in sorted(parts[t])]
        count, index = self.settings.shard_count, self.settings.shard_index
        mine = [tp for i, tp in enumerate(every) if i % count == index]
        consumer.assign(mine)
        log.info(
            "WEBHOOKS_READY: %d of %d inbox partitions assigned (shard %d of %d)",
            len(mine),
            len(every),
            index + 1,
            count,
        )
        self.ready.set()

    def _loop(self, consumer: KafkaConsumer, outbox: Outbox, client: httpx.Client) -> None:
        paused = False
        last_commit = time.monotonic()
        timeout_ms = int(self.settings.poll_timeout_seconds * 1000)
        while not self.stop_event.is_set():
            batch = consumer.poll(timeout_ms=timeout_ms)
            for messages in batch.values():
                for message in messages:
                    self._route(message, outbox, client)
            with self._lock:
                in_flight = self.tracker.in_flight()
            metrics.IN_FLIGHT.set(in_flight)
            if in_flight >= self.settings.max_in_flight and not paused:
                consumer.pause(*consumer.assignment())
                paused = True
            elif paused and in_flight < self.settings.max_in_flight // 2:
                consumer.resume(*consumer.paused())
                paused = False
            if time.monotonic() - last_commit >= self.settings.commit_interval_seconds:
                self._commit(consumer)
                last_commit = time.monotonic()

    def _route(self, message: Any, outbox: Outbox, client: httpx.Client) -> None:
        tp = (message.topic, message.partition)
        with self._lock:
            self.tracker.add(tp, message.offset)
        agency_id = record_key(message)
        endpoint = self.registry.get(agency_id) if agency_id else None
        if endpoint is None:
            return self._skip(tp, message.offset, "no_endpoint")
        try:
            delivery = decode_delivery(self.codec, message, recipient=agency_id)
        except (HomewardError, ValueError) as exc:
            # The SDK dead-letters what it cannot read; the gateway only says so.
            field, reason = describe(exc)
            log.warning(
                "%s[%d]@%d unreadable (%s: %s); not sent",
                message.topic,
                message.partition,
                message.offset,
                field,
                reason,
            )
            return self._skip(tp, message.offset, "unreadable")
        if not endpoint.wants(delivery.kind):
            return self._skip(tp, message.offset, "not_wanted")
        worker = self._workers.get(endpoint.agency_id)
        if worker is None:
            worker = self._workers[endpoint.agency_id] = EndpointWorker(
                endpoint, self.policy, client, outbox, self._settled, self._halt
            )
        worker.submit(Job.of(message, delivery, endpoint.agency_id))
        return None

    def _skip(self, tp: tuple[str, int], offset: int, reason: str) -> None:
        metrics.SKIPPED.labels(reason=reason).inc()
        with self._lock:
            self.tracker.settle(tp, offset)

    def _settled(self, job: Job) -> None:
        with self._lock:
            self.tracker.settle(job.tp, job.record.offset)

    def _commit(self, consumer: KafkaConsumer) -> None:
        with self._lock:
            offsets = self.tracker.committable()
        if not offsets:
            return
        try:
            consumer.commit(
                {
                    TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                    for (t, p), o in offsets.items()
                }
            )
        except Exception as exc:  # a rebalance under way: the next commit carries it
            log.info("commit deferred: %s", exc)
            return
        with self._lock:
            self.tracker.mark_committed(offsets)
