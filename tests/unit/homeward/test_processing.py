"""The emitter parks a record the broker refuses for good, and waits out the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)

from homeward import deadletter
from homeward.codec import Record
from homeward.metrics import EMIT_PARKED
from homeward.processing import Emitter, is_permanent

DLQ = "police.deadletter.v1"


class Broker:
    """A send that refuses records for `refused_topic` the way Kafka would."""

    def __init__(self, refused_topic: str, error: Exception, *, at_send: bool = False) -> None:
        self.refused_topic, self.error, self.at_send = refused_topic, error, at_send
        self.written: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def __call__(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if topic == self.refused_topic:
            if self.at_send:
                raise self.error
            future.set_exception(self.error)
        else:
            self.written.append((topic, key, value, headers))
            future.set_result(None)
        return future


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


RECORD = Record(b"CASE-1", b"\x00synthetic", [("ce_id", b"evt-1")])


@pytest.mark.parametrize(
    ("error", "at_send"),
    [
        (MessageSizeTooLargeError("synthetic: too large for the topic"), False),
        (TopicAuthorizationFailedError("inbox.health.v1"), True),
    ],
)
def test_a_refused_record_is_parked_and_the_service_is_not_ready_for_a_while(
    error: Exception, at_send: bool
) -> None:
    broker, clock = Broker("inbox.health.v1", error, at_send=at_send), Clock()
    emitter = Emitter(broker, service="unit", dead_letter_topic=DLQ, clock=clock)
    counter = EMIT_PARKED.labels("unit", "inbox.health.v1", type(error).__name__)
    before = counter._value.get()

    async def run() -> None:
        await (await emitter.send_record("inbox.health.v1", RECORD))  # resolves: no raise
        await (await emitter.send_record("inbox.police.v1", RECORD))  # the next one goes on

    asyncio.run(run())

    [(topic, key, value, headers), delivered] = broker.written
    assert (topic, key, value) == (DLQ, RECORD.key, RECORD.value)
    h = dict(headers)
    assert h[deadletter.TOPIC] == b"inbox.health.v1"
    assert h[deadletter.PARTITION] == b"-1" and h[deadletter.OFFSET] == b"-1"
    assert h[deadletter.SERVICE] == b"unit"
    assert type(error).__name__.encode() in h[deadletter.REASON]
    assert h["ce_id"] == b"evt-1"  # the record's own headers, for the replay
    assert delivered[0] == "inbox.police.v1"
    assert counter._value.get() == before + 1

    reason = emitter.not_ready()
    assert reason is not None and "inbox.health.v1" in reason
    clock.now += emitter.parked_not_ready_seconds + 1
    assert emitter.not_ready() is None


def test_broker_trouble_is_not_parked() -> None:
    assert not is_permanent(KafkaTimeoutError())
    broker = Broker("inbox.health.v1", KafkaTimeoutError())
    emitter = Emitter(broker, service="unit", dead_letter_topic=DLQ)

    async def run() -> None:
        await (await emitter.send_record("inbox.health.v1", RECORD))

    with pytest.raises(KafkaTimeoutError):
        asyncio.run(run())
    assert broker.written == [] and emitter.not_ready() is None


def test_a_record_too_large_for_the_dead_letter_topic_too_keeps_its_headers() -> None:
    class Tiny(Broker):
        async def __call__(
            self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
        ) -> Awaitable[Any]:
            if topic == DLQ and value:
                raise MessageSizeTooLargeError("synthetic")
            return await super().__call__(topic, key, value, headers)

    broker = Tiny("inbox.health.v1", MessageSizeTooLargeError("synthetic"))
    emitter = Emitter(broker, service="unit", dead_letter_topic=DLQ)

    async def run() -> None:
        await (await emitter.send_record("inbox.health.v1", RECORD))

    asyncio.run(run())
    [(topic, _, value, headers)] = broker.written
    assert (topic, value) == (DLQ, b"")
    assert dict(headers)[deadletter.TOPIC] == b"inbox.health.v1"
