"""The one place that wires the gateway to Kafka: the inbox follower, the
producer its writes go through (a Sink) and the audit writer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from fastapi import FastAPI
from kafka.errors import KafkaError

from homeward import kafka as hkafka
from homeward.audit import AuditEntry, Auditor
from homeward.audit.writer import KafkaAuditor
from homeward.auth.jwt_verifier import OidcVerifierSettings, TokenVerifier
from homeward.codec import Record
from homeward.errors import PublishRefused, PublishUnavailable
from homeward.settings import KafkaSettings
from homeward.topology import Topology, current_topology
from homeward_gateway.app import Mount, create_app
from homeward_gateway.follower import InboxFollower
from homeward_gateway.service import Gateway
from homeward_gateway.settings import GatewaySettings
from homeward_gateway.store import InboxStore

log = logging.getLogger(__name__)


class KafkaSink:
    """The gateway's producer (idempotent, acks=all), connected by start()."""

    def __init__(self, kafka: KafkaSettings, timeout_seconds: float) -> None:
        self.kafka = kafka
        self.timeout = timeout_seconds
        self._producer: hkafka.Producer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._producer is None:
                self._producer = hkafka.producer(self.kafka)

    def ready(self) -> bool:
        return self._producer is not None

    def send(self, topic: str, record: Record) -> None:
        producer = self._producer
        if producer is None:
            raise PublishUnavailable("not connected to Kafka yet; retry shortly")
        try:
            hkafka.send_all(producer, [(topic, record)], timeout=self.timeout)
        except KafkaError as exc:
            if hkafka.is_permanent(exc):
                # A 500 to the caller, not a 503 to retry; the topic stays in the log.
                log.error("Kafka refused a write to %s for good: %s", topic, exc)
                raise PublishRefused(
                    f"Kafka refused the write for good ({type(exc).__name__}); "
                    "a retry will not help until an operator fixes it"
                ) from exc
            raise PublishUnavailable(f"Kafka did not acknowledge the write: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None


class LazyKafkaAuditor:
    """The Kafka auditor, connected on first use (the gateway starts while the
    broker may still be coming up)."""

    def __init__(self, kafka: KafkaSettings, source: str) -> None:
        self.kafka = kafka
        self.source = source
        self._auditor: KafkaAuditor | None = None
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            if self._auditor is None:
                self._auditor = KafkaAuditor(self.kafka, source=self.source)
        self._auditor.record(entry)


class Runner:
    """Starts the producer and reads the inboxes; the app's Connector retries it."""

    def __init__(self, sink: KafkaSink, follower: InboxFollower) -> None:
        self.sink = sink
        self.follower = follower

    def start(self) -> None:
        self.sink.start()
        self.follower.start()

    def close(self) -> None:
        self.follower.close()
        self.sink.close()


def build_kafka_app(
    settings: GatewaySettings,
    kafka: KafkaSettings,
    *,
    oidc: OidcVerifierSettings | None = None,
    auditor: Auditor | None = None,
    mounts: Sequence[Mount] = (),
    topology: Topology | None = None,
    exempt_prefixes: tuple[str, ...] = (),
) -> FastAPI:
    topology = topology or current_topology()
    store = InboxStore()
    sink = KafkaSink(kafka, settings.send_timeout_seconds)
    follower = InboxFollower(
        kafka, topology, store, startup_timeout_seconds=settings.startup_timeout_seconds
    )
    gateway = Gateway(
        store,
        sink,
        topology,
        auditor=auditor or LazyKafkaAuditor(kafka, f"/homeward/gateway/{settings.source_name}"),
        send_timeout_seconds=settings.send_timeout_seconds,
        ready=follower.ready,
        catch_up=follower.sync,
        catch_up_seconds=settings.catch_up_seconds,
    )
    app = create_app(
        gateway,
        settings,
        TokenVerifier(oidc or OidcVerifierSettings()),
        mounts=mounts,
        runner=Runner(sink, follower),
        exempt_prefixes=exempt_prefixes,
    )
    app.state.follower = follower
    return app
