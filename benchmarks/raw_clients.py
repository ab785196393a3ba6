"""The physical limit the suite measures Homeward against: the fastest raw
Python Kafka clients producing and consuming the same records on the same
broker, in the same run.

- kafka-python: what Homeward's intake, SDK and admin use;
- aiokafka: what Faust (the fan-out, router and detector) uses;
- confluent-kafka: librdkafka, the C client, usually the fastest.

Every client is set up alike: acks=all, a 5 ms linger, 256 KiB batches (the
fan-out's own producer settings). No clock covers connecting: producers run
WARM_ROUNDS untimed rounds first (librdkafka's second round was still 4x its
third), and a consumer reads the topic once untimed, then again from the
beginning on the clock (librdkafka spends about 0.5 s before its first fetch
answer, the Python clients far less). `fastest()` picks the best of a
measurement; each ratio the suite prints names the client it was against.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from homeward.settings import KafkaSettings

CLIENTS = ("kafka-python", "aiokafka", "confluent-kafka")
LINGER_MS = 5
WARM_ROUNDS = 2
BATCH_BYTES = 256 * 1024

# (topic, key, value, headers): a record as Homeward wrote it, replayed raw.
Record = tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]


# -- connection options in each client's spelling ----------------------------


def _aiokafka_opts(s: KafkaSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bootstrap_servers": s.bootstrap_servers,
        "security_protocol": s.security_protocol,
    }
    if s.sasl_mechanism:
        opts["sasl_mechanism"] = s.sasl_mechanism
        opts["sasl_plain_username"] = s.sasl_username
        opts["sasl_plain_password"] = (
            s.sasl_password.get_secret_value() if s.sasl_password else None
        )
    if s.ssl_cafile:
        from aiokafka.helpers import create_ssl_context

        opts["ssl_context"] = create_ssl_context(cafile=s.ssl_cafile)
    return opts


def _librdkafka_opts(s: KafkaSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bootstrap.servers": s.bootstrap_servers,
        "security.protocol": s.security_protocol.lower(),
    }
    if s.sasl_mechanism:
        opts["sasl.mechanism"] = s.sasl_mechanism
        opts["sasl.username"] = s.sasl_username
        opts["sasl.password"] = s.sasl_password.get_secret_value() if s.sasl_password else ""
    if s.ssl_cafile:
        opts["ssl.ca.location"] = s.ssl_cafile
    return opts


# -- producers: send every record, then flush; seconds per round --------------


def produce_rounds(
    client: str, settings: KafkaSettings, records: Sequence[Record], rounds: int
) -> list[float]:
    """`rounds` timed rounds of producing `records` (after WARM_ROUNDS untimed
    rounds that connect and learn the partitions), in seconds."""
    return _PRODUCERS[client](settings, records, rounds)


def _kafka_python_produce(s: KafkaSettings, records: Sequence[Record], rounds: int) -> list[float]:
    producer = KafkaProducer(
        acks="all", linger_ms=LINGER_MS, batch_size=BATCH_BYTES, **s.kafka_python()
    )
    took: list[float] = []
    try:
        for r in range(rounds + WARM_ROUNDS):
            began = time.perf_counter()
            for topic, key, value, headers in records:
                producer.send(topic, key=key, value=value, headers=headers)
            producer.flush()
            if r >= WARM_ROUNDS:
                took.append(time.perf_counter() - began)
    finally:
        producer.close()
    return took


def _aiokafka_produce(s: KafkaSettings, records: Sequence[Record], rounds: int) -> list[float]:
    from aiokafka import AIOKafkaProducer

    async def go() -> list[float]:
        producer = AIOKafkaProducer(
            acks="all", linger_ms=LINGER_MS, max_batch_size=BATCH_BYTES, **_aiokafka_opts(s)
        )
        await producer.start()
        took: list[float] = []
        try:
            for r in range(rounds + WARM_ROUNDS):
                began = time.perf_counter()
                for topic, key, value, headers in records:
                    # send() waits only while the accumulator is full; flush() for the acks.
                    await producer.send(topic, value=value, key=key, headers=headers)
                await producer.flush()
                if r >= WARM_ROUNDS:
                    took.append(time.perf_counter() - began)
        finally:
            await producer.stop()
        return took

    return asyncio.run(go())


def _confluent_produce(s: KafkaSettings, records: Sequence[Record], rounds: int) -> list[float]:
    from confluent_kafka import Producer

    producer = Producer(
        {
            **_librdkafka_opts(s),
            "acks": "all",
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_BYTES,
            "queue.buffering.max.messages": 1_000_000,
            # librdkafka leaves Nagle on by default: small batches then wait for the
            # peer's delayed ACK on loopback (about 40 ms a round trip).
            "socket.nagle.disable": True,
        }
    )
    failed: list[Any] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    took: list[float] = []
    for r in range(rounds + WARM_ROUNDS):
        began = time.perf_counter()
        for topic, key, value, headers in records:
            while True:
                try:
                    producer.produce(topic, value, key, headers=headers, on_delivery=report)
                    break
                except BufferError:  # the local queue is full: serve callbacks, go on
                    producer.poll(0.01)
        left = producer.flush(60)
        if left or failed:
            raise RuntimeError(f"confluent-kafka: {left} unsent, errors {failed[:3]}")
        if r >= WARM_ROUNDS:
            took.append(time.perf_counter() - began)
    return took


_PRODUCERS: dict[str, Callable[[KafkaSettings, Sequence[Record], int], list[float]]] = {
    "kafka-python": _kafka_python_produce,
    "aiokafka": _aiokafka_produce,
    "confluent-kafka": _confluent_produce,
}


# -- consumers: read n records of a topic from the beginning; seconds ---------


def consume_all(client: str, settings: KafkaSettings, topic: str, partitions: int, n: int) -> float:
    """Seconds to read n records from partitions 0..partitions-1 of `topic`
    (assigned, no group), the second time from the beginning."""
    return _CONSUMERS[client](settings, [(topic, p) for p in range(partitions)], n)


def _kafka_python_consume(s: KafkaSettings, tps: list[tuple[str, int]], n: int) -> float:
    consumer = KafkaConsumer(
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **s.kafka_python(),
    )
    try:
        consumer.assign([TopicPartition(t, p) for t, p in tps])
        took = 0.0
        for _ in range(2):  # the first read connects and looks the offsets up
            consumer.seek_to_beginning()
            seen, began = 0, time.perf_counter()
            while seen < n:
                got = consumer.poll(timeout_ms=500, max_records=100_000)
                seen += sum(len(m) for m in got.values())
            took = time.perf_counter() - began
        return took
    finally:
        consumer.close()


def _aiokafka_consume(s: KafkaSettings, tps: list[tuple[str, int]], n: int) -> float:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as AioTP

    async def go() -> float:
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            **_aiokafka_opts(s),
        )
        await consumer.start()
        try:
            parts = [AioTP(t, p) for t, p in tps]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            took = 0.0
            for _ in range(2):  # the first read connects and looks the offsets up
                await consumer.seek_to_beginning(*parts)
                seen, began = 0, time.perf_counter()
                while seen < n:
                    got = await consumer.getmany(timeout_ms=500, max_records=100_000)
                    seen += sum(len(m) for m in got.values())
                took = time.perf_counter() - began
            return took
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _confluent_consume(s: KafkaSettings, tps: list[tuple[str, int]], n: int) -> float:
    from confluent_kafka import OFFSET_BEGINNING, Consumer
    from confluent_kafka import TopicPartition as CTP

    consumer = Consumer(
        {
            **_librdkafka_opts(s),
            # assign() needs no group, but librdkafka asks for a group id.
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "socket.nagle.disable": True,
        }
    )
    try:
        took = 0.0
        for i in range(2):  # the first read connects and looks the offsets up
            parts = [CTP(t, p, OFFSET_BEGINNING) for t, p in tps]
            if i == 0:
                consumer.assign(parts)
            else:
                for tp in parts:
                    consumer.seek(tp)
            seen, began = 0, time.perf_counter()
            while seen < n:
                # consume() waits for num_messages or the timeout: ask for what is left.
                got = consumer.consume(num_messages=min(n - seen, 100_000), timeout=0.05)
                seen += sum(1 for m in got if m.error() is None)
            took = time.perf_counter() - began
        return took
    finally:
        consumer.close()


_CONSUMERS: dict[str, Callable[[KafkaSettings, list[tuple[str, int]], int], float]] = {
    "kafka-python": _kafka_python_consume,
    "aiokafka": _aiokafka_consume,
    "confluent-kafka": _confluent_consume,
}


def fastest(by_client: dict[str, float], *, higher_is_better: bool = False) -> str:
    """The client with the best figure of a measurement."""
    pick = max if higher_is_better else min
    return pick(by_client, key=lambda c: by_client[c])


def settings_note() -> dict[str, Any]:
    return {"acks": "all", "linger_ms": LINGER_MS, "batch_bytes": BATCH_BYTES, "clients": CLIENTS}
