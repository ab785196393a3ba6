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

from kafka import KafkaProducer
from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.codec import Codec, EventMeta, Record
from homeward.errors import ConfigError, PublishUnavailable
from homeward.events import Classification, Event
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_intake.routing import key_for

log = logging.getLogger(__name__)


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
    """One idempotent acks=all producer, shared by event and idempotency records."""

    def __init__(
        self,
        settings: KafkaSettings,
        topology: Topology,
        *,
        codec: Codec | None = None,
        timeout_seconds: float = 8.0,
        connect_timeout_seconds: float = 30.0,
    ) -> None:
        self.settings = settings
        self.topology = topology
        self.codec = codec or Codec()
        self.timeout = timeout_seconds
        self.connect_timeout = connect_timeout_seconds
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._producer is not None:
                return
            ms = int(self.timeout * 1000)
            try:
                # The constructor bootstraps, so a broker that is down fails here,
                # and start() is retried by the app's connector thread.
                self._producer = hkafka.producer(
                    self.settings,
                    bootstrap_timeout_ms=int(self.connect_timeout * 1000),
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

    def ready(self) -> bool:
        # Only "the producer is up": kafka-python 3.0's bootstrap_connected() is
        # true only *during* a bootstrap, and idle connections are closed on
        # purpose, so neither tells whether Kafka is reachable now. The
        # idempotency store's tail thread probes the broker for that.
        return self._producer is not None

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
            raise PublishUnavailable("not connected to Kafka yet")
        try:
            hkafka.send_all(producer, [(topic, record)], timeout=self.timeout)
        except KafkaError as exc:
            raise PublishUnavailable(
                f"Kafka did not acknowledge within {self.timeout:g}s: {type(exc).__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                try:
                    self._producer.close(timeout=5)
                except Exception:  # shutting down; nothing left to do with it
                    log.exception("closing the Kafka producer failed")
                self._producer = None
