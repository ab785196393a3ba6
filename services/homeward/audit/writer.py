"""KafkaAuditor: the Auditor that puts an entry on audit.entries.v1 and waits
for the broker's acknowledgement, so an entry point answers an accepted write
only once its audit entry is on the bus (the caller decides what a failure
means; intake answers 503 rather than act unrecorded)."""

from __future__ import annotations

from typing import Any

from homeward import kafka
from homeward.audit.record import AuditEntry
from homeward.codec import Codec
from homeward.events.audit import AuditEntry as AuditEntryEvent
from homeward.metrics import AUDIT_ENTRIES_WRITTEN
from homeward.settings import KafkaSettings
from homeward.topology import Topology


class KafkaAuditor:
    """Thread-safe (kafka-python's producer is); one per process is enough."""

    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        topology: Topology | None = None,
        producer: kafka.Producer | None = None,
        codec: Codec | None = None,
        source: str = "/homeward/intake",
        timeout: float = 10.0,
    ) -> None:
        settings = settings or KafkaSettings()
        self.topic = (
            (topology or Topology.load(prefix=settings.topic_prefix)).get("audit_entries").name
        )
        self._own = producer is None
        # send() may wait for metadata up to max_block_ms (60 s by default) on a dead
        # broker: bound it by the same timeout as the acknowledgement, so an audit
        # write during an outage is a prompt 503, not a hung request.
        self._producer = producer or kafka.producer(settings, max_block_ms=int(timeout * 1000))
        self._codec = codec or Codec()
        self._source = source
        self._timeout = timeout

    def record(self, entry: AuditEntry) -> None:
        """Send and wait for the ack; raises kafka-python's error if it does not come."""
        event = AuditEntryEvent.of(entry)
        # ce_id is the entry id: a retried write of the same entry is recognisably the same.
        record, _ = self._codec.encode(
            event, key=event.case_id, source=self._source, event_id=entry.entry_id, time=entry.at
        )
        future: Any = kafka.send(self._producer, self.topic, record)
        future.get(timeout=self._timeout)
        AUDIT_ENTRIES_WRITTEN.labels(entry.service, str(entry.outcome)).inc()

    def close(self) -> None:
        if self._own:
            self._producer.close(timeout=5)
