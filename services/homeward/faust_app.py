"""The Faust app every Homeward stream processor runs, built one way: the same
Kafka connection as every kafka-python client, state rebuilt from changelog
topics, raw bytes in and out (the processors own the Avro and JSON)."""

from __future__ import annotations

import ssl
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


def producer_send(app: Any) -> Any:
    """The app's producer as a homeward.processing.Send: (topic, key, value,
    headers) -> an awaitable that resolves once the broker has the record."""

    async def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        return await app.producer.send(topic, key, value, None, None, headers)

    return send
