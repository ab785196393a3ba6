"""The agency SDK: read one agency's own deliveries from its type's inbox,
de-duplicate them, acknowledge alert deliveries, answer referrals, and never
stop on a bad record.

    sub = Subscriber("PS-0001", "police", settings)
    sub.run(handler, stop_event)          # handle, acknowledge; commit per batch

    def handler(delivery):                # a referral is answered, not acknowledged
        if delivery.kind == "referral":
            sub.answer(delivery, "accepted")

or, driving it yourself:

    for delivery in sub.poll(1.0):
        try:
            handle(delivery)
        except Exception:
            sub.rewind(delivery)          # shown again by a later poll()
            break                         # the rest of the batch waits for it
        sub.acknowledge(delivery)
    sub.commit()
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from homeward import kafka
from homeward.actors import agency_actor
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.errors import ConfigError
from homeward.settings import KafkaSettings
from homeward.topology import Topology, answer_topic_id
from homeward_agency.answers import AnswersReferrals, ReferralMemory
from homeward_agency.dedup import DEFAULT_CAPACITY, Seen, SeenSet
from homeward_agency.delivery import (
    Delivery,
    RawRecord,
    acknowledgement,
    decode_delivery,
    record_key,
)
from homeward_agency.inbox import InboxClients
from homeward_agency.journal import HandledJournal
from homeward_agency.outbox import consumed

log = logging.getLogger(__name__)

SERVICE = "homeward-agency"
AGENCY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

Handler = Callable[[Delivery], None]

# run(): the wait before a failed delivery is handled again, doubled after each
# further failure up to the cap, and back to the first after a success.
RETRY_DELAY = 0.5
RETRY_DELAY_MAX = 30.0


@dataclass(frozen=True)
class SubscriberStats:
    shown: int
    duplicates: int
    acks_sent: int
    dead_letters: int
    skipped_other_agencies: int
    handler_failures: int
    answers_sent: int = 0


def group_id_for(agency_id: str) -> str:
    return f"homeward-agency-{agency_id}"


class Subscriber(InboxClients, AnswersReferrals):
    """One agency's reader of its inbox.

    It assigns itself the single partition its agency id hashes to (as the
    fan-out's producer does) instead of joining a group rebalance: the agency
    needs only that partition, and no other agency's subscriber is waiting on
    it. The group id is used only to keep committed offsets. Answering
    referrals: AnswersReferrals (answers.py).
    """

    def __init__(
        self,
        agency_id: str,
        agency_type: AgencyType | str,
        settings: KafkaSettings | None = None,
        group_id: str | None = None,
        *,
        topology: Topology | None = None,
        codec: Codec | None = None,
        seen_capacity: int = DEFAULT_CAPACITY,
        metadata_timeout: float = 30.0,
        principal: str | None = None,
        journal: HandledJournal | None = None,
    ) -> None:
        if not AGENCY_ID.match(agency_id):
            raise ConfigError(
                "must be 1-64 letters, digits or . _ : - starting with a letter or digit",
                field="agency_id",
            )
        try:
            self.agency_type = AgencyType(agency_type)
        except ValueError:
            raise ConfigError(
                f"unknown agency type {agency_type!r}; one of {[t.value for t in AgencyType]}",
                field="agency_type",
            ) from None
        self.agency_id = agency_id
        self.settings = settings or KafkaSettings()
        # Who its acks and answers say wrote them: this agency, under the
        # principal it authenticates as (its Kafka user, unless told otherwise).
        self.actor = agency_actor(
            agency_id, self.agency_type.value, principal or self.settings.sasl_username
        )
        # Under the topic prefix, like every topic: systems sharing a cluster under
        # different prefixes keep apart offsets (and the grants are per prefix).
        self.group_id = group_id or self.settings.topic_prefix + group_id_for(agency_id)
        self.topology = topology or Topology.load(prefix=self.settings.topic_prefix)
        self.topic = self.topology.inbox(self.agency_type).name
        self.acks_topic = self.topology.get("alert_acks").name
        self.answers_topic = self.topology.get(answer_topic_id(self.agency_type)).name
        self.dead_letter_topic = self.topology.get("dead_letters").name
        self.codec = codec or Codec()
        self.seen = SeenSet(seen_capacity)
        # On disk, what was acted on before a restart (homeward_agency.journal); None: memory only.
        self.journal = journal
        self.referrals = ReferralMemory()
        self._position: int | None = None  # the offset after the last record taken
        self._committed: int | None = None
        self._read_upto = 0  # the offset after the furthest record ever taken
        self._batch: list[Delivery] = []  # what the last poll() handed out
        self._counts = dict.fromkeys(SubscriberStats.__dataclass_fields__, 0)
        super().__init__(
            self.settings, group_id=self.group_id, dead_letter_topic=self.dead_letter_topic
        )
        try:
            partitions = self._partition_count(metadata_timeout)
        except BaseException:
            self.close()
            raise
        self.partition = kafka.partition_for(agency_id.encode(), partitions)
        self._tp = TopicPartition(self.topic, self.partition)
        self._consumer.assign([self._tp])

    def _partition_count(self, timeout: float) -> int:
        # The broker's count, not the declaration's: the fan-out's producer
        # hashes over the partitions the topic really has.
        deadline = time.monotonic() + timeout
        while True:
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                return len(partitions)
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"topic {self.topic!r} not found on the broker within {timeout:g}s "
                    "(is the topology applied?)",
                    field="topic",
                )
            time.sleep(0.2)

    # -- reading --------------------------------------------------------------
    def poll(self, timeout: float = 1.0) -> list[Delivery]:
        """The new deliveries for this agency, in offset order.

        Other agencies' records are skipped undecoded, undecodable ones are
        dead-lettered, and copies of an acknowledged delivery are acknowledged
        again and dropped; none of them is returned. A delivery you cannot
        handle: do not acknowledge it, rewind() to it and leave the rest of
        the batch; the next poll() starts from it again."""
        self._batch = [d for d in self._fetch(timeout) if self._admit(d)]
        return self._batch

    def rewind(self, delivery: Delivery) -> None:
        """Read again from `delivery` (its handling failed).

        The next poll starts at its record, it and the later deliveries of the
        last poll() are shown again, and no commit moves past it until then."""
        self._consumer.seek(self._tp, delivery.offset)
        self._position = delivery.offset
        self.forget(delivery)
        for later in self._batch:
            if later.offset > delivery.offset:
                self.forget(later)
        self._batch = []

    def forget(self, delivery: Delivery) -> None:
        """Let the next copy of `delivery` through (its handling failed)."""
        self.seen.forget(delivery.dedup_key)

    def _records(self, timeout: float) -> list[RawRecord]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        return [record for records in batches.values() for record in records]

    def _fetch(self, timeout: float) -> list[Delivery]:
        """This agency's decoded records, duplicates included, in offset order."""
        out: list[Delivery] = []
        for record in self._records(timeout):
            delivery = self._take(record)
            if delivery is not None:
                out.append(delivery)
        return out

    def _take(self, record: RawRecord) -> Delivery | None:
        """Decode `record` if it is ours; it counts as read from here on.

        A record read again after a rewind is not counted or dead-lettered twice."""
        first_read = record.offset >= self._read_upto
        self._read_upto = max(self._read_upto, record.offset + 1)
        self._position = record.offset + 1
        if record_key(record) != self.agency_id:
            if first_read:
                self._counts["skipped_other_agencies"] += 1
            return None
        try:
            delivery = decode_delivery(self.codec, record, recipient=self.agency_id)
        except Exception as exc:  # any bad record is dead-lettered, never fatal
            if first_read:
                self._outbox.dead_letter(record, exc, SERVICE)
                self._counts["dead_letters"] += 1
            return None
        if first_read:
            consumed(record.topic, delivery.meta.type)
        return delivery

    def _admit(self, delivery: Delivery) -> bool:
        """True for the first copy of a delivery; a copy of an acknowledged one
        is acknowledged again (ours may have been lost: that is why it came back)."""
        state = self.seen.check(delivery.dedup_key)
        if state is Seen.NEW and self.journal is not None and delivery.dedup_key in self.journal:
            # Acted on before a restart that came before the offset commit.
            self.seen.mark_acked(delivery.dedup_key)
            state = Seen.ACKED
        if state is Seen.NEW:
            self._counts["shown"] += 1
            self.referrals.observe(self.agency_id, delivery.event)
            return True
        self._counts["duplicates"] += 1
        if state is Seen.ACKED:
            self.acknowledge(delivery, note="duplicate")
        # PENDING: handed out, not yet acknowledged; that acknowledgement is to come.
        return False

    # -- acknowledging and committing ---------------------------------------
    def acknowledge(self, delivery: Delivery, note: str = "") -> None:
        """Send AgencyAcknowledgement for `delivery` (escalations need none).

        The send is not waited for here: the next commit() confirms it, with
        everything else sent since the last one, before any offset moves."""
        if not delivery.needs_ack:
            return
        record, _ack = acknowledgement(self.codec, delivery, self.agency_id, note, self.actor)
        self._outbox.send(self.acks_topic, record)
        self.seen.mark_acked(delivery.dedup_key)
        self._counts["acks_sent"] += 1

    def commit(self, through: Delivery | None = None, timeout: float = 30.0) -> None:
        """Commit the offset after `through`, or after everything taken so far
        (up to a rewound delivery, not past it).

        Acknowledgements and dead letters sent so far are confirmed first (one
        wait for all of them), so no offset is committed past a record whose
        outcome could be lost. Each call is a broker round trip or two: call it
        once per batch of deliveries, as run() does, not after each one."""
        offset = through.offset + 1 if through is not None else self._position
        if offset is None or (self._committed is not None and offset <= self._committed):
            self._outbox.confirm(timeout)
            return
        if self.journal is not None:
            self.journal.sync()  # what the commit will not redeliver is on the disk first
        if self._commit({self._tp: OffsetAndMetadata(offset, "", -1)}, timeout):
            self._committed = offset

    # -- the loop -------------------------------------------------------------
    def run(
        self,
        handler: Handler,
        stop_event: threading.Event,
        *,
        ack: bool = True,
        poll_timeout: float = 0.5,
        retry_delay: float = RETRY_DELAY,
        retry_delay_max: float = RETRY_DELAY_MAX,
    ) -> None:
        """Handle and acknowledge each delivery until `stop_event` is set,
        committing once per polled batch, after the broker confirmed the
        batch's acknowledgements (a crash shows at most that batch again).

        A handler that raises is logged and the delivery is handed to it again
        after `retry_delay` seconds, doubled after each further failure up to
        `retry_delay_max`, until it returns; the wait ends early on
        `stop_event`. Until then nothing after it in the partition is handled
        (an agency's deliveries keep their order) and the committed offset
        stays at it, so a restart reads it again. Records that cannot be
        decoded are dead-lettered and committed past."""
        if not 0 < retry_delay <= retry_delay_max:
            raise ValueError("need 0 < retry_delay <= retry_delay_max")
        delay = retry_delay
        while not stop_event.is_set():
            self._batch = []
            failed = False
            for record in self._records(poll_timeout):
                if stop_event.is_set():
                    break  # the rest is not taken: read again on restart
                delivery = self._take(record)
                if delivery is None or not self._admit(delivery):
                    continue
                if not self._handle(handler, delivery, ack, delay):
                    self.rewind(delivery)
                    failed = True
                    break
                delay = retry_delay
            # One wait for the batch's acknowledgements and dead letters, then one
            # commit: past what was taken; after a rewind, up to the failed delivery.
            self.commit()
            if failed:
                stop_event.wait(delay)
                delay = min(delay * 2, retry_delay_max)

    def _handle(self, handler: Handler, delivery: Delivery, ack: bool, retry_in: float) -> bool:
        """Hand `delivery` to `handler` and acknowledge it; False if the handler raised."""
        try:
            handler(delivery)
        except Exception as exc:  # one failing delivery must not stop the subscriber
            # Ids and the reason only: neither the delivery's content nor an
            # error text that may repeat it (a child's details) is logged.
            log.warning(
                "handler failed on %s %s (case %s, offset %d): %s; "
                "not acknowledged, handling it again in %gs",
                delivery.kind,
                delivery.delivery_id,
                delivery.case_id,
                delivery.offset,
                _reason(exc),
                retry_in,
            )
            self._counts["handler_failures"] += 1
            return False
        if self.journal is not None:
            self.journal.record(delivery.dedup_key)
        if ack:
            self.acknowledge(delivery)
        return True

    # -- figures (close() and the context manager: InboxClients) -------------
    def stats(self) -> SubscriberStats:
        return SubscriberStats(**self._counts)


def _reason(exc: Exception) -> str:
    field, reason = describe(exc)
    return f"{field}: {reason}" if field else reason
