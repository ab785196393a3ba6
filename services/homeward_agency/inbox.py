"""What every reader of inboxes in the SDK holds (Subscriber, Fleet,
ReportDesk): a consumer, a producer and the Outbox of what was sent through
it; one way to commit, only after all of that is confirmed; one way to close.

Committing costs a broker round trip, and confirming the sends another, so
the readers do both once per polled batch, not once per record: at-least-once
still holds (nothing is committed past a record whose acknowledgement or dead
letter the broker has not confirmed), and a crash shows at most that batch
again, which readers drop by delivery or event id.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from kafka import TopicPartition
from kafka.errors import CommitFailedError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from homeward import kafka
from homeward.settings import KafkaSettings
from homeward_agency.outbox import Outbox

log = logging.getLogger(__name__)


class InboxClients:
    """The consumer (subscribed to `topics`, or assigned later by the reader),
    the producer, and the Outbox sending through it."""

    def __init__(
        self, settings: KafkaSettings, *topics: str, group_id: str, dead_letter_topic: str
    ) -> None:
        self._closed = True  # until both clients exist: close() has nothing to do
        self._consumer = kafka.consumer(settings, *topics, group_id=group_id)
        try:
            self._producer = kafka.producer(settings)
        except BaseException:
            self._consumer.close(autocommit=False)
            raise
        self._outbox = Outbox(self._producer, dead_letter_topic)
        self._closed = False

    def _commit(
        self, offsets: dict[TopicPartition, OffsetAndMetadata] | None = None, timeout: float = 30.0
    ) -> bool:
        """Wait for every send so far (raising the first one's error: then nothing
        is committed), then commit `offsets`, or what was polled.

        False if the group was rebalancing: whoever owns the partitions next
        reads them from the last commit, which is only ever too early, not late."""
        self._outbox.confirm(timeout)
        try:
            if offsets is None:
                self._consumer.commit()
            else:
                self._consumer.commit(offsets)
        except (CommitFailedError, RebalanceInProgressError) as exc:
            log.warning("commit failed after a rebalance: %s", exc)
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Flush what was sent and leave; nothing is committed here."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        try:
            self._producer.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)
            self._consumer.close(autocommit=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
