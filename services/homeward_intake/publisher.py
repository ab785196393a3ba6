"""Putting events on the bus: the abstraction, a Kafka adapter and an in-memory one.

The HTTP layer only sees `Publisher`; unit tests give it MemoryPublisher, the
service gives it KafkaPublisher. Both encode with the real Codec, so a unit
test still catches an event that does not fit its Avro schema, and both take
the topic as a topology id (routing.py picks it) and resolve it against the
topology, so neither ever spells a topic name.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.codec import Codec, EventMeta, Record
from homeward.errors import ConfigError, PublishRefused, PublishUnavailable
from homeward.events import Classification, Event
from homeward.metrics import PUBLISH_REFUSED
from homeward.processing import is_permanent
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_intake.routing import key_for

log = logging.getLogger(__name__)

# How long one reconnect attempt may wait for the broker's bootstrap answer, and
# the pause between attempts: short, so intake is back within seconds of the broker.
RECONNECT_TIMEOUT_SECONDS = 2.0
RECONNECT_FIRST_SECONDS = 0.2
RECONNECT_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class Published:
    topic: str
    meta: EventMeta
    record: Record


class Publisher(Protocol):
    topology: Topology

    def start(self) -> None:
        """Connect; raise if Kafka cannot be reached."""

    def ready(self) -> bool: ...

    def not_ready_reason(self) -> str | None:
        """Why the publisher cannot publish now (None when it can)."""

    def publish(
        self, event: Event, *, topic_id: str, event_id: str, source: str, time: datetime
    ) -> Published:
        """Encode and publish one event to the topic `topic_id` names; return once
        Kafka acknowledged it."""

    def send_record(self, topic: str, record: Record) -> None:
        """Publish one ready-made record and wait for the acknowledgement."""

    def close(self) -> None: ...


SENSITIVITY = {
    Classification.PUBLIC: 0,
    Classification.RESTRICTED: 1,
    Classification.POLICE_ONLY: 2,
}


def topic_for(topology: Topology, event: Event, topic_id: str) -> str:
    """The topic's name, once sure the event may travel on it.

    A record must not be more sensitive than its topic (the data law): a
    police-only event on a restricted topic is a routing bug, refused before
    anything is sent."""
    topic = topology.get(topic_id)
    if SENSITIVITY[event.data_classification()] > SENSITIVITY[topic.classification]:
        raise ConfigError(
            f"a {event.data_classification().value} {event.ce_type()} may not go to "
            f"{topic.classification.value} topic {topic.name}",
            field="topic",
        )
    return topic.name


def encode(codec: Codec, event: Event, *, event_id: str, source: str, time: datetime) -> Any:
    # Key and subject are the case (a health record's key is the person's id
    # number: routing.key_for), so one case's events stay in order on one
    # partition; the case is also the correlation id that ties its chain together.
    return codec.encode(
        event,
        key=key_for(event),
        source=source,
        correlation_id=event.case_id,
        event_id=event_id,
        time=time,
    )


class MemoryPublisher:
    """Keeps what it would have sent; `fail` makes it behave like Kafka being down."""

    def __init__(
        self, topology: Topology | None = None, codec: Codec | None = None, *, prefix: str = ""
    ) -> None:
        self.topology = topology or Topology.load(prefix=prefix)
        self.codec = codec or Codec()
        self.sent: list[tuple[str, Record]] = []
        self.published: list[Published] = []
        self.fail = False
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def ready(self) -> bool:
        return not self.fail

    def not_ready_reason(self) -> str | None:
        return "Kafka is unavailable (simulated)" if self.fail else None

    def publish(
        self, event: Event, *, topic_id: str, event_id: str, source: str, time: datetime
    ) -> Published:
        topic = topic_for(self.topology, event, topic_id)
        record, meta = encode(self.codec, event, event_id=event_id, source=source, time=time)
        self.send_record(topic, record)
        published = Published(topic, meta, record)
        with self._lock:
            self.published.append(published)
        return published

    def send_record(self, topic: str, record: Record) -> None:
        if self.fail:
            raise PublishUnavailable("Kafka is unavailable (simulated)")
        with self._lock:
            self.sent.append((topic, record))

    def events(self, topic_id: str | None = None) -> list[Record]:
        """The event records published (not the idempotency records), optionally
        only those on the topic `topic_id` names."""
        name = self.topology.get(topic_id).name if topic_id else None
        with self._lock:
            return [p.record for p in self.published if name is None or p.topic == name]

    def topics(self) -> list[str]:
        """The topic of each event published, in order."""
        with self._lock:
            return [p.topic for p in self.published]

    def close(self) -> None:
        pass


class KafkaPublisher:
    """One idempotent acks=all producer, shared by event and idempotency records.

    A send that fails (no acknowledgement within the publish timeout) marks the
    publisher not ready and hands the producer to a reconnect thread: the old
    producer is closed without waiting (kafka-python's can sit on a dead broker
    past any timeout), and a new one is built until the broker answers its
    bootstrap. Until then every publish is refused at once (a 503 with
    Retry-After, not an 8 s wait per request), and /readyz says why.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topology: Topology,
        *,
        codec: Codec | None = None,
        timeout_seconds: float = 8.0,
        connect_timeout_seconds: float = 30.0,
        reconnect_timeout_seconds: float = RECONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.codec = codec or Codec()
        self.timeout = timeout_seconds
        self.connect_timeout = connect_timeout_seconds
        self.reconnect_timeout = reconnect_timeout_seconds
        self._producer: hkafka.Producer | None = None
        self._lock = threading.Lock()
        self._failure: str | None = None  # why the last send failed, until reconnected
        self._reconnecting: threading.Thread | None = None
        self._closed = threading.Event()

    def _new_producer(self, bootstrap_timeout: float) -> hkafka.Producer:
        ms = int(self.timeout * 1000)
        try:
            # The constructor bootstraps, so a broker that is down fails here.
            return hkafka.producer(
                self.settings,
                bootstrap_timeout_ms=int(bootstrap_timeout * 1000),
                # Bound every wait by the publish timeout, so a request that
                # cannot be acknowledged becomes a 503 rather than a hang.
                max_block_ms=ms,
                request_timeout_ms=ms,
                delivery_timeout_ms=ms + 2000,
            )
        except KafkaError as exc:
            raise PublishUnavailable(
                f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc}"
            ) from exc

    def start(self) -> None:
        with self._lock:
            if self._producer is not None or self._reconnecting is not None:
                return
            # A broker that is down at start fails here, and start() is
            # retried by the app's connector thread.
            self._producer = self._new_producer(self.connect_timeout)

    def ready(self) -> bool:
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        # "The producer is up and its last send went through": kafka-python 3.0's
        # bootstrap_connected() is true only *during* a bootstrap, and idle
        # connections are closed on purpose, so neither tells whether Kafka is
        # reachable now. The idempotency store's tail thread probes the broker.
        if self._failure is not None:
            return self._failure
        if self._producer is None:
            return "not connected to Kafka yet"
        return None

    def publish(
        self, event: Event, *, topic_id: str, event_id: str, source: str, time: datetime
    ) -> Published:
        topic = topic_for(self.topology, event, topic_id)
        record, meta = encode(self.codec, event, event_id=event_id, source=source, time=time)
        self.send_record(topic, record)
        return Published(topic, meta, record)

    def send_record(self, topic: str, record: Record) -> None:
        producer = self._producer
        if producer is None:
            raise PublishUnavailable(self._failure or "not connected to Kafka yet")
        try:
            hkafka.send_all(producer, [(topic, record)], timeout=self.timeout)
        except KafkaError as exc:
            if is_permanent(exc):
                # The broker said no for this topic (a missing grant, a size limit):
                # a clear 500, not a 503 to retry, and intake stays ready for the
                # other topics (hkafka's producer renews itself after such a refusal).
                # The topic is internal: it goes to the log and the metric, not the caller.
                name = type(exc).__name__
                PUBLISH_REFUSED.labels("intake", topic, name).inc()
                log.error("Kafka refused a write to %s for good: %s: %s", topic, name, exc)
                raise PublishRefused(
                    f"Kafka refused the write for good ({name}); "
                    "a retry will not help until an operator fixes it",
                ) from exc
            reason = (
                f"Kafka did not acknowledge within {self.timeout:g}s: {type(exc).__name__}: {exc}"
            )
            self._failed(producer, reason)
            raise PublishUnavailable(reason) from exc

    def _failed(self, producer: hkafka.Producer, reason: str) -> None:
        """Take the producer out of service and reconnect in the background."""
        with self._lock:
            if self._producer is not producer or self._closed.is_set():
                return  # another request's failure got here first
            self._producer = None
            self._failure = reason
            log.warning("publishing failed, reconnecting to Kafka: %s", reason)
            self._reconnecting = threading.Thread(
                target=self._reconnect, args=(producer,), name="intake-reconnect", daemon=True
            )
            self._reconnecting.start()

    def _reconnect(self, old: hkafka.Producer) -> None:
        # Records still in the old producer were answered 503 (or will time out
        # and be answered so); a late acknowledgement of one is harmless: its
        # retry carries the same event id.
        try:
            old.close(timeout=0)
        except Exception:  # a producer that cannot even close is dropped all the same
            log.exception("closing the failed Kafka producer failed")
        delay = RECONNECT_FIRST_SECONDS
        while not self._closed.is_set():
            try:
                fresh = self._new_producer(self.reconnect_timeout)
            except PublishUnavailable as exc:
                log.info("Kafka still unreachable (retry in %.1fs): %s", delay, exc.reason)
                self._closed.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            with self._lock:
                if self._closed.is_set():
                    fresh.close(timeout=0)
                    return
                self._producer, self._failure, self._reconnecting = fresh, None, None
            log.info("reconnected to Kafka; publishing again")
            return

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=5)
            except Exception:  # shutting down; nothing left to do with it
                log.exception("closing the Kafka producer failed")
