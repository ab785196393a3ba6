"""The Faust app every Homeward stream processor runs, built one way: the same
Kafka connection as every kafka-python client, state rebuilt from changelog
topics, raw bytes in and out (the processors own the Avro and JSON)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust

from homeward import faust_patches
from homeward.faust_transport import use_idempotent_producer
from homeward.settings import KafkaSettings
from homeward.topology import Topic


def credentials(k: KafkaSettings) -> Any:
    """The same connection settings as every kafka-python client, in Faust's terms."""
    protocol = k.security_protocol.upper()
    context = ssl.create_default_context(cafile=k.ssl_cafile) if "SSL" in protocol else None
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=k.sasl_username,
            password=k.sasl_password.get_secret_value() if k.sasl_password else None,
            ssl_context=context,
            mechanism=k.sasl_mechanism or "PLAIN",
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def make_app(app_id: str, kafka: KafkaSettings, source: Topic) -> Any:
    """A Faust app whose tables and internal topics are partitioned like `source`."""
    # A restarted worker must not drop records it fetched while recovering its
    # tables (homeward.faust_patches); refuse a Faust the fix was not written for.
    if not faust_patches.apply():
        raise RuntimeError(
            f"faust-streaming {faust.__version__}: homeward.faust_patches covers 0.15 only; "
            "read faust/tables/recovery.py on_recovery_completed again before running it"
        )
    app = faust.App(
        app_id,
        broker=kafka.faust_broker(),
        broker_credentials=credentials(kafka),
        # State is rebuilt from the changelog on start: no local store to lose or move.
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=source.partitions,
        topic_replication_factor=source.replication,
        producer_acks=-1,
        producer_linger=kafka.linger_ms / 1000,
        consumer_auto_offset_reset="earliest",
        # A worker that died without leaving its group holds its partitions until the
        # session times out: 15 s, not Faust's 60 s, bounds how long they go unread.
        broker_session_timeout=15,
        broker_heartbeat_interval=3,
        web_enabled=False,
        # At-least-once plus deterministic event ids: Kafka transactions have
        # known holes (KIP-890), and readers drop copies by id.
        processing_guarantee="at_least_once",
    )
    use_idempotent_producer(app)
    return app


def shared_topics(app: Any) -> dict[str, list[str]]:
    """Topics that more than one agent of `app` reads, with the agents.

    Faust hands such a record to each agent and counts one reference per
    agent. A rebalance empties the agents' queues without releasing the
    references of the copies it drops, so the revoking worker then waits in
    `Consumer.wait_empty` for acknowledgements that never come (faust-streaming
    0.15.3, app/base.py `_on_partitions_revoked`). Every service keeps this
    empty; its unit test says so."""
    readers: dict[str, list[str]] = {}
    for name, agent in app.agents.items():
        for topic in getattr(agent.channel, "topics", ()):
            readers.setdefault(topic, []).append(name)
    return {topic: sorted(names) for topic, names in readers.items() if len(names) > 1}


def producer_send(app: Any) -> Any:
    """The app's producer as a homeward.processing.Send: (topic, key, value,
    headers) -> an awaitable that resolves once the broker has the record."""

    async def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        return await app.producer.send(topic, key, value, None, None, headers)

    return send


class CommitGuard:
    """Keeps a worker stopped in the middle of a record from committing it.

    Faust acknowledges a stream's current event in a `finally` around its
    `yield` (faust/streams.py `_py_aiter`, and `take_events` for a whole batch),
    so an agent cancelled while it handles records (SIGTERM: the app stops its
    agents) acknowledges records it never carried out, and the consumer commits
    every acknowledged offset as it stops (its `wait_empty` is skipped once it
    is stopping). The next owner of the partition then starts after them: the
    records are lost (measured: docs/faults.md, "Rebalances"). Inside
    `carrying_out()`, a cancellation stops every later commit of this worker,
    so its partitions resume from the last commit made before, as after a
    SIGKILL: redelivered, and dropped as copies by their deterministic ids."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.held = False

    def hold(self) -> None:
        if self.held:
            return
        self.held = True
        consumer = self.app.consumer

        async def no_commit(*args: Any, **kwargs: Any) -> bool:
            return False

        # Every commit path (the interval, a rebalance, the stop) goes through these.
        consumer.commit = no_commit
        consumer.force_commit = no_commit

    @contextmanager
    def carrying_out(self) -> Iterator[None]:
        try:
            yield
        except asyncio.CancelledError:
            self.hold()
            raise
