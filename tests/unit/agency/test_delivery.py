from __future__ import annotations

from datetime import timedelta

import pytest

from homeward.codec import Codec
from homeward.errors import CodecError
from homeward.events import AgencyAcknowledgement, AlertIssued
from homeward_agency.delivery import acknowledgement, decode_delivery, record_key, source_for
from tests.unit.agency import samples as s

codec = Codec()


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (s.issued(), "alert"),
        (s.updated(), "update"),
        (s.sighting(), "sighting"),
        (s.cancelled(), "cancellation"),
    ],
)
def test_decodes_each_kind(event: AlertIssued, kind: str) -> None:
    rec = s.raw(s.encode(codec, s.delivery("PS-1", "D-1", event=event), "PS-1"), offset=7)
    d = decode_delivery(codec, rec, recipient="PS-1")
    assert d.kind == kind
    assert (d.delivery_id, d.case_id, d.offset, d.key) == ("D-1", "CASE-TEST-1", 7, "PS-1")
    assert d.needs_ack and d.dedup_key == "D-1"
    assert d.latency_ms == pytest.approx(250)


def test_escalation_needs_no_ack_and_has_its_own_dedup_key() -> None:
    rec = s.raw(s.encode(codec, s.escalated("D-1"), "CO-1"))
    d = decode_delivery(codec, rec, recipient="CO-1")
    assert d.kind == "escalation" and not d.needs_ack
    assert d.dedup_key == "escalation:D-1"
    assert d.latency_ms is None
    with pytest.raises(ValueError):
        acknowledgement(codec, d, "CO-1")


def test_a_delivery_addressed_to_another_agency_is_refused() -> None:
    rec = s.raw(s.encode(codec, s.delivery("PS-2", "D-1"), "PS-1"))
    with pytest.raises(CodecError) as err:
        decode_delivery(codec, rec, recipient="PS-1")
    assert err.value.field == "value.agency_id"


def test_an_event_that_is_not_a_delivery_is_refused() -> None:
    record, _ = codec.encode(s.issued(), key="PS-1", source=s.FANOUT_SOURCE)
    with pytest.raises(CodecError) as err:
        decode_delivery(codec, s.raw(record))
    assert err.value.field == "headers.ce_type"


def test_garbage_is_a_codec_error() -> None:
    rec = s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1"))
    rec.value = b"not avro at all"
    with pytest.raises(CodecError) as err:
        decode_delivery(codec, rec)
    assert err.value.field == "value"


def test_record_key_is_none_for_missing_or_non_utf8_keys() -> None:
    rec = s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1"))
    assert record_key(rec) == "PS-1"
    rec.key = None
    assert record_key(rec) is None
    rec.key = b"\xff\xfe"
    assert record_key(rec) is None


def test_acknowledgement_is_keyed_by_case_and_caused_by_the_delivery() -> None:
    rec = s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1"))
    d = decode_delivery(codec, rec)
    record, ack = acknowledgement(codec, d, "PS-1", note="seen")
    assert record.key == b"CASE-TEST-1"
    back = codec.decode(record.value, record.headers)
    assert back.event == ack
    assert isinstance(back.event, AgencyAcknowledgement)
    assert (back.event.delivery_id, back.event.agency_id, back.event.note) == (
        "D-1",
        "PS-1",
        "seen",
    )
    assert back.meta.causation_id == d.meta.id
    assert back.meta.correlation_id == "CASE-TEST-1"
    assert back.meta.source == source_for("PS-1")


def test_received_at_is_the_kafka_timestamp() -> None:
    rec = s.raw(
        s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1"), timestamp=s.T0 + timedelta(seconds=3)
    )
    assert decode_delivery(codec, rec).received_at == s.T0 + timedelta(seconds=3)
