"""The shared producer renews itself after the broker refuses a record for good
(kafka-python's idempotent producer would refuse every later send)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

from homeward.kafka import RenewingProducer


class Client:
    """Stands in for kafka-python's producer: each send's future is settled by the test."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.sent: list[tuple[str, Future]] = []
        self.closed_with: float | None = None

    def send(self, topic: str, **_: Any) -> Future:
        future = Future()
        self.sent.append((topic, future))
        return future

    def close(self, timeout: float | None = None) -> None:
        self.closed_with = timeout


@pytest.fixture
def made() -> list[Client]:
    return []


@pytest.fixture
def producer(made: list[Client]) -> RenewingProducer:
    def make() -> KafkaProducer:
        made.append(Client(len(made)))
        return cast(KafkaProducer, made[-1])

    return RenewingProducer(make)


def test_a_permanent_refusal_fails_its_send_and_the_next_send_gets_a_new_client(
    producer: RenewingProducer, made: list[Client]
) -> None:
    refused = producer.send("alerts", value=b"x" * 10)
    made[0].sent[0][1].failure(MessageSizeTooLargeError("too large"))
    assert refused.failed() and isinstance(refused.exception, MessageSizeTooLargeError)
    producer.send("rescues", value=b"ok")
    assert len(made) == 2 and producer.renewals == 1
    assert [t for t, _ in made[1].sent] == ["rescues"]
    assert made[0].closed_with == 0  # what it still held fails the same way anyway


def test_broker_trouble_keeps_the_client(producer: RenewingProducer, made: list[Client]) -> None:
    made_first = producer.send("alerts", value=b"a")
    made[0].sent[0][1].failure(KafkaTimeoutError("no ack"))
    assert made_first.failed()
    producer.send("alerts", value=b"b")
    assert len(made) == 1 and producer.renewals == 0


def test_a_refusal_by_an_already_replaced_client_renews_nothing_again(
    producer: RenewingProducer, made: list[Client]
) -> None:
    producer.send("a", value=b"1")
    producer.send("a", value=b"2")
    made[0].sent[0][1].failure(MessageSizeTooLargeError("too large"))
    producer.send("b", value=b"3")  # renews
    made[0].sent[1][1].failure(MessageSizeTooLargeError("too large"))  # the old one's late news
    producer.send("b", value=b"4")
    assert len(made) == 2 and producer.renewals == 1


def test_a_broker_that_is_down_at_renewal_leaves_it_to_the_next_send(made: list[Client]) -> None:
    down = [False]

    def make() -> KafkaProducer:
        if down[0]:
            raise KafkaTimeoutError("bootstrap")
        made.append(Client(len(made)))
        return cast(KafkaProducer, made[-1])

    producer = RenewingProducer(make)
    producer.send("a", value=b"1")
    made[0].sent[0][1].failure(MessageSizeTooLargeError("too large"))
    down[0] = True
    with pytest.raises(KafkaTimeoutError):
        producer.send("a", value=b"2")
    down[0] = False
    producer.send("a", value=b"3")
    assert producer.renewals == 1 and [t for t, _ in made[1].sent] == ["a"]
