"""Replaying the webhook dead-letter topic: every dead letter (of one agency,
since a time) POSTed again to its endpoint, as it is in the registry now.

Idempotent for the receiver: a replayed delivery carries the same webhook-id
and the same body as every earlier try (the dead letter keeps the original
record and its time), so an endpoint that took it once drops the copy.
Replaying twice sends twice; nothing is removed from the topic (its retention
ages it out), and a replay that fails again only says so (a `failed`
receipt), it is not dead-lettered a second time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from kafka import TopicPartition

from homeward import kafka
from homeward.codec import Codec
from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.delivery import decode_delivery
from homeward_gateway.webhooks.backoff import Backoff
from homeward_gateway.webhooks.dispatcher import DEAD_LETTERS, Outbox, settle_outcome
from homeward_gateway.webhooks.records import AGENCY, Job, from_dead_letter
from homeward_gateway.webhooks.registry import Registry
from homeward_gateway.webhooks.sender import Policy, deliver, new_client
from homeward_gateway.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # no endpoint now, or unreadable

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


def dead_letters(settings: KafkaSettings, topic: str) -> Iterator[Any]:
    """Every record of the dead-letter topic, from the start to its end now."""
    consumer = kafka.consumer(settings, group_id=None)
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = kafka.end_offsets(consumer, tps)
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for messages in consumer.poll(timeout_ms=500).values():
                yield from messages
    finally:
        consumer.close()


def replay(
    kafka_settings: KafkaSettings,
    settings: WebhookSettings,
    registry: Registry,
    *,
    agency: str | None = None,
    since: datetime | None = None,
    topology: Topology | None = None,
    client: httpx.Client | None = None,
) -> ReplayReport:
    topology = topology or Topology.load(prefix=kafka_settings.topic_prefix)
    codec = Codec()
    policy = Policy(
        settings.max_attempts, Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds)
    )
    since_ms = None if since is None else int(since.timestamp() * 1000)
    stop = threading.Event()
    report = ReplayReport()
    producer = kafka.producer(kafka_settings)
    http = client or new_client(settings.timeout_seconds)
    outbox = Outbox(producer, topology, codec)
    try:
        for message in dead_letters(kafka_settings, topology.get(DEAD_LETTERS).name):
            original = from_dead_letter(message)
            agency_id = original.letter.get(AGENCY, "")
            if agency is not None and agency_id != agency:
                continue
            if since_ms is not None and message.timestamp < since_ms:
                continue
            endpoint = registry.get(agency_id)
            where = f"{message.partition}@{message.offset}"
            if endpoint is None:
                log.warning("dead letter %s: %s has no endpoint now", where, agency_id)
                report.skipped.append(where)
                continue
            try:
                delivery = decode_delivery(codec, original, recipient=agency_id)
            except (HomewardError, ValueError) as exc:
                log.warning("dead letter %s unreadable: %s", where, exc)
                report.skipped.append(where)
                continue
            job = Job.of(original, delivery, agency_id)
            job = Job(job.record, delivery, agency_id, job.webhook_id, job.body, replayed=True)
            outcome = deliver(http, endpoint, job.webhook_id, job.body, policy, stop)
            assert outcome is not None  # nothing sets `stop` here
            settle_outcome(outbox, job, outcome, stop, dead_letter=False)
            (report.delivered if outcome.delivered else report.failed).append(job.webhook_id)
    finally:
        producer.close(timeout=10)
        if client is None:
            http.close()
    return report
