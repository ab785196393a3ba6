"""The wire contract: single-object encoding, CloudEvents headers, and every way
a record can be refused (a CodecError naming the field)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pydantic
import pytest
from fastavro import schemaless_writer
from fastavro.schema import fingerprint as fastavro_fingerprint
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward import paths
from homeward.catalogue import CURRENT, Catalogue
from homeward.codec import (
    CONTENT_TYPE,
    DEFAULT_MAX_VALUE_BYTES,
    HEADER_LEN,
    MAGIC,
    Codec,
    EventMeta,
    Headers,
    Record,
)
from homeward.errors import CodecError
from homeward.events import (
    EVENT_TYPES,
    AgencyAcknowledgement,
    Classification,
    RadiusExpanded,
)
from tests.conformance import avsc
from tests.conformance.strategies import samples

EVENT_NAMES = sorted(EVENT_TYPES)


@cache
def codec() -> Codec:
    return Codec(Catalogue.load())


def encode(name: str = "homeward.alerts.AlertIssued", **kw: Any) -> tuple[Record, EventMeta]:
    event = samples()[name]
    return codec().encode(event, key=event.case_id, source="/homeward/test", **kw)


# -- round trips ---------------------------------------------------------------
@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_type_round_trips(name: str) -> None:
    event = samples()[name]
    time = datetime(2026, 3, 1, 16, 0, 0, 250999, tzinfo=UTC) + timedelta(hours=8)
    record, meta = codec().encode(
        event,
        key=event.case_id,
        source="/homeward/test",
        correlation_id="corr-1",
        causation_id="cause-1",
        event_id="evt-1",
        time=time,
    )
    assert record.key == event.case_id.encode()
    assert record.value[:2] == MAGIC
    assert record.value[2:HEADER_LEN] == codec().catalogue.by_name(name).fingerprint
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"evt-1"
    assert headers["ce_type"] == name.encode()
    assert headers["ce_subject"] == event.case_id.encode()
    assert headers["content-type"] == CONTENT_TYPE.encode()
    assert headers["ce_correlationid"] == b"corr-1"
    assert headers["ce_causationid"] == b"cause-1"
    assert headers["ce_classification"] == event.data_classification().value.encode()
    assert headers["ce_time"] == b"2026-03-02T00:00:00.250+00:00"

    decoded = codec().decode(record.value, record.headers)
    assert decoded.event == event
    assert decoded.meta == meta
    assert decoded.writer.name == name
    assert decoded.writer.version == CURRENT


def test_a_record_without_causation_has_no_causation_header() -> None:
    record, meta = encode()
    assert "ce_causationid" not in dict(record.headers)
    assert meta.causation_id is None
    assert meta.correlation_id == samples()["homeward.alerts.AlertIssued"].case_id
    assert codec().decode(record.value, record.headers).meta.causation_id is None


def test_the_classification_can_be_raised_for_one_record() -> None:
    record, _ = encode(classification=Classification.POLICE_ONLY)
    assert codec().decode(record.value, record.headers).meta.classification == "police-only"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("homeward.referrals.RescueNotified", Classification.POLICE_ONLY),
        ("homeward.referrals.DnaComparisonRecorded", Classification.POLICE_ONLY),
        ("homeward.reports.MandatoryReportFiled", Classification.POLICE_ONLY),
        ("homeward.reports.ReportAcknowledged", Classification.POLICE_ONLY),
        ("homeward.alerts.PublicNotice", Classification.PUBLIC),
        ("homeward.referrals.ReferralRequested", Classification.RESTRICTED),
        ("homeward.alerts.AlertDelivery", Classification.RESTRICTED),
    ],
)
def test_each_event_travels_with_its_classification(name: str, expected: Classification) -> None:
    record, meta = encode(name)
    assert dict(record.headers)["ce_classification"] == expected.value.encode()
    assert meta.classification == expected


def test_a_delivery_carrying_a_public_notice_travels_as_public() -> None:
    notice = samples()["homeward.alerts.PublicNotice"]
    delivery = samples()["homeward.alerts.AlertDelivery"].model_copy(update={"event": notice})
    record, _ = codec().encode(delivery, key=delivery.case_id, source="/homeward/test")
    assert dict(record.headers)["ce_classification"] == b"public"
    decoded = codec().decode(record.value, record.headers)
    assert decoded.event == delivery
    assert decoded.meta.classification == Classification.PUBLIC


# -- fingerprints --------------------------------------------------------------
def test_the_spec_test_vector_for_the_fingerprint_of_null() -> None:
    # Avro spec, "Single object encoding": the CRC-64-AVRO fingerprint of the
    # schema "null" is 0x63dd24e7cc258f8a, written little-endian on the wire.
    expected = bytes.fromhex("8a8f25cce724dd63")
    assert avsc.crc64_avro(b'"null"') == 0x63DD24E7CC258F8A
    assert avsc.crc64_avro(b'"null"').to_bytes(8, "little") == expected
    assert bytes.fromhex(fastavro_fingerprint('"null"', "CRC-64-AVRO")) == expected


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_the_header_holds_the_little_endian_fingerprint_of_the_canonical_form(name: str) -> None:
    record, _ = encode(name)
    canonical = codec().catalogue.by_name(name).canonical
    assert record.value[2:HEADER_LEN] == avsc.crc64_avro(canonical.encode()).to_bytes(8, "little")


# -- refusals --------------------------------------------------------------------
def _drop(header: str) -> Callable[[Headers], Headers]:
    return lambda headers: [(k, v) for k, v in headers if k != header]


def _set(header: str, value: bytes) -> Callable[[Headers], Headers]:
    return lambda headers: [(k, value if k == header else v) for k, v in headers]


HEADER_FAULTS = {
    "missing-ce_id": (_drop("ce_id"), "headers.ce_id"),
    "missing-ce_type": (_drop("ce_type"), "headers.ce_type"),
    "missing-ce_time": (_drop("ce_time"), "headers.ce_time"),
    "missing-ce_classification": (_drop("ce_classification"), "headers.ce_classification"),
    "missing-ce_source": (_drop("ce_source"), "headers.ce_source"),
    "missing-ce_specversion": (_drop("ce_specversion"), "headers.ce_specversion"),
    "empty-ce_id": (_set("ce_id", b""), "headers.ce_id"),
    "ce_type-of-another-event": (
        _set("ce_type", b"homeward.alerts.AlertCancelled"),
        "headers.ce_type",
    ),
    "ce_time-not-a-time": (_set("ce_time", b"yesterday"), "headers.ce_time"),
    "unknown-classification": (_set("ce_classification", b"secret"), "headers.ce_classification"),
    "specversion-0.3": (_set("ce_specversion", b"0.3"), "headers.ce_specversion"),
    "header-not-utf8": (_set("ce_source", b"\xff\xfe"), "headers.ce_source"),
}


@pytest.mark.parametrize("fault", sorted(HEADER_FAULTS))
def test_a_bad_header_is_refused_naming_it(fault: str) -> None:
    change, field = HEADER_FAULTS[fault]
    record, _ = encode()
    with pytest.raises(CodecError) as caught:
        codec().decode(record.value, change(record.headers))
    assert caught.value.field == field


def test_no_headers_at_all_is_refused() -> None:
    record, _ = encode()
    with pytest.raises(CodecError) as caught:
        codec().decode(record.value, None)
    assert (caught.value.field or "").startswith("headers.")


VALUE_FAULTS: dict[str, tuple[Callable[[bytes], bytes | None], str, str]] = {
    "empty": (lambda v: b"", "value", "C3 01"),
    "tombstone": (lambda v: None, "value", "tombstone"),
    "no-marker": (lambda v: b"\x00\x00" + v[2:], "value", "C3 01"),
    "header-only-half": (lambda v: v[:6], "value", "C3 01"),
    "unknown-fingerprint": (lambda v: MAGIC + bytes(8) + v[HEADER_LEN:], "value.fingerprint", ""),
    "truncated-body": (lambda v: v[:-5], "value", "cannot be read"),
    "no-body": (lambda v: v[:HEADER_LEN], "value", "cannot be read"),
    "trailing-bytes": (lambda v: v + b"\x00\x01", "value", "2 trailing bytes"),
}


@pytest.mark.parametrize("fault", sorted(VALUE_FAULTS))
def test_a_bad_value_is_refused_naming_it(fault: str) -> None:
    change, field, reason = VALUE_FAULTS[fault]
    record, _ = encode()
    with pytest.raises(CodecError) as caught:
        codec().decode(change(record.value), record.headers)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_value_over_the_size_cap_is_refused_before_it_is_read() -> None:
    record, _ = encode()
    small = Codec(codec().catalogue, max_value_bytes=len(record.value) - 1)
    with pytest.raises(CodecError) as caught:
        small.decode(record.value, record.headers)
    assert caught.value.field == "value"
    assert "exceeds the cap" in caught.value.reason
    assert Codec(codec().catalogue, max_value_bytes=len(record.value)).decode(
        record.value, record.headers
    )


def test_an_event_too_big_to_send_is_refused_at_encode() -> None:
    event = AgencyAcknowledgement(
        case_id="C-1", delivery_id="D-1", agency_id="A-1", note="x" * 4000
    )
    with pytest.raises(CodecError) as caught:
        Codec(codec().catalogue, max_value_bytes=1024).encode(event, key="C-1", source="/t")
    assert caught.value.field == "value"
    assert DEFAULT_MAX_VALUE_BYTES > 4096


def test_a_datum_that_does_not_fit_its_schema_is_refused_at_encode() -> None:
    with pytest.raises(CodecError) as caught:
        codec().encode_value("homeward.alerts.AgencyAcknowledgement", {"case_id": 7})
    assert caught.value.field == "value"
    with pytest.raises(CodecError) as caught:
        codec().encode_value("homeward.alerts.NoSuchEvent", {})
    assert caught.value.field == "schema"


def test_an_int_the_schema_cannot_carry_is_refused_by_the_model() -> None:
    # previous_radius_km is an Avro int (32-bit). fastavro writes 2**31 as an
    # oversized varint without complaint; Java's decoder reads that back as 0
    # (and rejects anything past 5 bytes). The model bounds it before encoding.
    with pytest.raises(pydantic.ValidationError) as caught:
        RadiusExpanded(
            case_id="C-1", previous_radius_km=2**31, radius_km=100, hours_since_last_seen=1.0
        )
    assert caught.value.errors()[0]["loc"] == ("previous_radius_km",)


def _write(name: str, datum: dict[str, Any], catalogue: Catalogue | None = None) -> bytes:
    """A value written with fastavro directly, bypassing the models."""
    entry = (catalogue or codec().catalogue).by_name(name)
    buf = io.BytesIO()
    buf.write(MAGIC + entry.fingerprint)
    schemaless_writer(buf, entry.parsed, datum)
    return buf.getvalue()


def test_a_value_the_model_refuses_names_the_field() -> None:
    name = "homeward.alerts.AlertIssued"
    record, _ = encode(name)
    datum = samples()[name].to_avro()
    datum["child"] = {**datum["child"], "age_years": 40}
    with pytest.raises(CodecError) as caught:
        codec().decode(_write(name, datum), record.headers)
    assert caught.value.field == "value.child.age_years"


def test_a_non_event_record_is_refused() -> None:
    name = "homeward.common.Location"
    value = _write(name, {"latitude": 1.0, "longitude": 2.0, "description": "x"})
    record, _ = encode()
    with pytest.raises(CodecError) as caught:
        codec().decode(value, _set("ce_type", name.encode())(record.headers))
    assert caught.value.field == "value"
    assert "not an event type" in caught.value.reason


@settings(max_examples=150, deadline=timedelta(milliseconds=500))
@given(
    name=st.sampled_from(EVENT_NAMES),
    body=st.binary(max_size=200),
    keep=st.integers(min_value=0, max_value=400),
)
def test_random_bytes_after_a_valid_header_only_ever_raise_codec_error(
    name: str, body: bytes, keep: int
) -> None:
    # Either pure noise after the header, or a valid body cut short with noise after it.
    record, _ = encode(name)
    valid_body = record.value[HEADER_LEN:]
    value = record.value[:HEADER_LEN] + valid_body[: keep % (len(valid_body) + 1)] + body
    try:
        codec().decode(value, record.headers)
    except CodecError as exc:
        assert exc.field
        assert exc.field == "value" or exc.field.startswith("value.")


def test_an_array_claiming_billions_of_items_fails_fast(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "Many",
        "namespace": "t",
        "fields": [{"name": "xs", "type": {"type": "array", "items": "string"}}],
    }
    (tmp_path / "t.Many.avsc").write_text(json.dumps(schema), encoding="utf-8")
    small = Codec(Catalogue.load(tmp_path, tmp_path / "none"))
    entry = small.catalogue.by_name("t.Many")
    # A block of 3e9 strings, then one 1-byte string and nothing more: 16 bytes in all.
    value = MAGIC + entry.fingerprint + _zigzag_varint(3_000_000_000) + b"\x02a"
    with pytest.raises(CodecError) as caught:
        small.decode_value(value)
    assert caught.value.field == "value.xs"


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# -- reader schema resolution ----------------------------------------------------
@pytest.fixture
def with_older_release(tmp_path: Path) -> Catalogue:
    """Today's schemas, plus a release 0.0.9 whose AgencyAcknowledgement had no note."""
    current = tmp_path / "avro"
    old = tmp_path / "released" / "0.0.9"
    shutil.copytree(paths.schema_dir(), current)
    shutil.copytree(paths.schema_dir(), old)
    path = old / "homeward.alerts.AgencyAcknowledgement.avsc"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["fields"] = [f for f in raw["fields"] if f["name"] != "note"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    return Catalogue.load(current, tmp_path / "released")


def test_a_record_written_with_a_released_schema_reads_with_the_current_one(
    with_older_release: Catalogue,
) -> None:
    name = "homeward.alerts.AgencyAcknowledgement"
    (old,) = [e for e in with_older_release.released() if e.name == name]
    assert old.version == "0.0.9"
    assert old.fingerprint != with_older_release.by_name(name).fingerprint
    buf = io.BytesIO()
    buf.write(MAGIC + old.fingerprint)
    schemaless_writer(buf, old.parsed, {"case_id": "C-1", "delivery_id": "D-1", "agency_id": "A-1"})
    record, _ = encode(name)
    decoded = Codec(with_older_release).decode(buf.getvalue(), record.headers)
    assert decoded.writer.version == "0.0.9"
    assert decoded.event == AgencyAcknowledgement(
        case_id="C-1", delivery_id="D-1", agency_id="A-1", note=""
    )


def test_the_current_schema_is_found_by_name_and_the_old_one_by_fingerprint(
    with_older_release: Catalogue,
) -> None:
    name = "homeward.alerts.AgencyAcknowledgement"
    current = with_older_release.by_name(name)
    (old,) = [e for e in with_older_release.released() if e.name == name]
    assert with_older_release.by_fingerprint(current.fingerprint) is current
    assert with_older_release.by_fingerprint(old.fingerprint) is old
