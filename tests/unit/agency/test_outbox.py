"""The outbox both the subscriber and the fleet send through (fake producer)."""

from __future__ import annotations

import pytest

from homeward.codec import Record
from homeward.deadletter import FIELD, OFFSET, PARTITION, REASON, SERVICE, TOPIC
from homeward.errors import CodecError
from homeward_agency.outbox import Outbox
from tests.unit.agency import samples as s
from tests.unit.agency.fakes import FakeProducer


def test_send_is_held_until_confirmed() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer, "dlq")
    outbox.confirm()
    assert producer.flushes == 0  # nothing to wait for
    outbox.send("acks", Record(b"k", b"v", []))
    assert len(outbox) == 1
    outbox.confirm()
    assert len(outbox) == 0 and producer.flushes == 1
    assert producer.sent == [("acks", Record(b"k", b"v", []))]


def test_a_failed_send_is_raised_by_confirm() -> None:
    producer = FakeProducer()
    producer.fail_with = RuntimeError("not written (test)")
    outbox = Outbox(producer, "dlq")
    outbox.send("acks", Record(b"k", b"v", []))
    with pytest.raises(RuntimeError, match="not written"):
        outbox.confirm()


def test_dead_letter_keeps_the_bytes_and_says_why_and_where() -> None:
    producer = FakeProducer()
    outbox = Outbox(producer, "dlq")
    bad = s.raw(Record(b"PS-1", b"\x00junk", [("ce_type", b"x")]), offset=41)
    outbox.dead_letter(bad, CodecError("not Avro", field="value"), "svc-test")
    ((topic, letter),) = producer.sent
    headers = dict(letter.headers)
    assert topic == "dlq" and (letter.key, letter.value) == (b"PS-1", b"\x00junk")
    assert headers[REASON] == b"not Avro" and headers[FIELD] == b"value"
    assert (headers[TOPIC], headers[PARTITION], headers[OFFSET]) == (
        b"police.inbox.v1",
        b"0",
        b"41",
    )
    assert headers[SERVICE] == b"svc-test" and headers["ce_type"] == b"x"
