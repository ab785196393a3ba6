"""The codec's fast paths give what the plain ways gave: the same header bytes,
the same refusals, the same datums (docs/benchmarks.md: why they exist)."""

from __future__ import annotations

import dataclasses
import inspect
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from fastavro import schemaless_reader
from hypothesis import given
from hypothesis import strategies as st

from homeward.catalogue import Catalogue
from homeward.codec import (
    HEADER_LEN,
    Codec,
    Decoded,
    EventMeta,
    Record,
    _ce_time,
    needs_record_names,
    new_event_id,
)
from homeward.errors import CodecError
from homeward.events import EVENT_TYPES, Classification
from tests.conformance.strategies import samples

EVENT_NAMES = sorted(EVENT_TYPES)


@cache
def codec() -> Codec:
    return Codec(Catalogue.load())


# -- encode --------------------------------------------------------------------
@given(
    st.datetimes(
        datetime(1, 1, 2),
        datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    )
)
def test_ce_time_is_the_iso_form_in_utc_milliseconds(time: datetime) -> None:
    expected = time.astimezone(UTC).isoformat(timespec="milliseconds").encode()
    assert _ce_time(time) == expected


@pytest.mark.parametrize("micro", [0, 999, 1000, 123456, 999999])
def test_ce_time_truncates_to_milliseconds_as_isoformat_does(micro: int) -> None:
    time = datetime(999, 1, 2, 3, 4, 5, micro, tzinfo=UTC)
    assert _ce_time(time) == time.isoformat(timespec="milliseconds").encode()


def test_event_ids_are_random_version_4_uuids_in_canonical_form() -> None:
    ids = {new_event_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_an_encoded_record_without_an_event_id_gets_a_uuid() -> None:
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    _, meta = codec().encode(event, key=event.case_id, source="/t")
    assert uuid.UUID(meta.id).version == 4


@pytest.mark.parametrize("cls", [EventMeta, Record, Decoded])
def test_the_hand_written_constructors_take_every_field_in_order(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert params == [f.name for f in dataclasses.fields(cls)]


def test_the_records_stay_frozen_equal_and_hashable() -> None:
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    record, meta = codec().encode(event, key=event.case_id, source="/t", event_id="e-1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = b"other"  # type: ignore[misc]
    assert dataclasses.replace(meta, id="e-2").id == "e-2"
    again = EventMeta.from_headers(record.headers)
    assert again == meta
    assert hash(again) == hash(meta)
    assert record == Record(record.key, record.value, list(record.headers))


# -- decode: headers -------------------------------------------------------------
def _checked_outcome(headers: list[tuple[str, bytes | None]]) -> Any:
    """What the careful path says: the meta, or the (field, reason) it refuses with."""
    try:
        strings = {name: (raw or b"").decode() for name, raw in headers}
    except UnicodeDecodeError:
        return "not utf-8"
    try:
        return EventMeta._checked(strings)
    except CodecError as exc:
        return (exc.field, exc.reason)


def _outcome(headers: list[tuple[str, bytes | None]]) -> Any:
    try:
        return EventMeta.from_headers(headers)
    except CodecError as exc:
        return "not utf-8" if exc.reason == "header is not UTF-8" else (exc.field, exc.reason)


_VALUES = st.sampled_from(
    [
        None,
        b"",
        b"1.0",
        b"0.3",
        b"public",
        b"police-only",
        b"secret",
        b"2026-03-01T08:00:00.123+00:00",
        b"2026-03-01T16:00:00.123456+08:00",
        b"2026-03-01T08:00:00",
        b"2026-03-01",
        b"yesterday",
        b"homeward.alerts.AgencyAcknowledgement",
        b"\xff\xfe",
        b"CASE-1",
    ]
)


@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "ce_specversion",
                "ce_id",
                "ce_source",
                "ce_type",
                "ce_time",
                "ce_subject",
                "ce_classification",
                "ce_correlationid",
                "ce_causationid",
                "x-other",
            ]
        ),
        st.one_of(st.just("drop"), _VALUES),
        max_size=4,
    )
)
def test_the_fast_header_path_agrees_with_the_careful_one(changes: dict[str, Any]) -> None:
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    record, _ = codec().encode(event, key=event.case_id, source="/t", causation_id="c-1")
    headers: list[tuple[str, bytes | None]] = [
        (k, changes.get(k, v)) for k, v in record.headers if changes.get(k) != "drop"
    ]
    headers += [(k, v) for k, v in changes.items() if k not in dict(record.headers) and v != "drop"]
    assert _outcome(headers) == _checked_outcome(headers)


def test_headers_may_come_as_a_one_shot_iterator() -> None:
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    record, meta = codec().encode(event, key=event.case_id, source="/t")
    assert EventMeta.from_headers(iter(record.headers)) == meta
    bad = iter([*record.headers[:2], ("ce_source", b"\xff")])
    with pytest.raises(CodecError) as caught:
        EventMeta.from_headers(bad)
    assert caught.value.field == "headers.ce_source"


def test_any_header_that_is_not_utf8_is_refused_even_a_foreign_one() -> None:
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    record, _ = codec().encode(event, key=event.case_id, source="/t")
    with pytest.raises(CodecError) as caught:
        codec().decode(record.value, [*record.headers, ("x-trace", b"\xc3")])
    assert caught.value.field == "headers.x-trace"


# -- decode: values --------------------------------------------------------------
def test_only_a_union_of_two_or_more_records_needs_record_names() -> None:
    assert not needs_record_names({"type": "record", "name": "a.B", "fields": []})
    one = [{"type": "record", "name": "a.B", "fields": []}, "null"]
    assert not needs_record_names(
        {"type": "record", "name": "a.C", "fields": [{"name": "x", "type": one}]}
    )
    two = [
        {"type": "record", "name": "a.D", "fields": []},
        "a.B",
    ]  # a reference counts, as in fastavro
    assert needs_record_names({"type": "array", "items": two})
    assert needs_record_names({"type": "map", "values": {"type": two}})
    wanted = {e.name for e in codec().catalogue if needs_record_names(e.parsed)}
    assert wanted == {"homeward.alerts.AlertDelivery"}


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_reads_as_it_did_with_record_names_always_asked_for(name: str) -> None:
    event = samples()[name]
    record, _ = codec().encode(event, key=event.case_id, source="/t")
    writer, datum = codec().decode_value(record.value)
    body = io.BytesIO(record.value)
    body.seek(HEADER_LEN)
    expected = schemaless_reader(
        body,
        writer.parsed,
        writer.parsed,
        return_record_name=True,
        return_record_name_override=True,
    )
    assert datum == expected


def test_a_reader_named_explicitly_is_resolved_and_remembered_apart() -> None:
    fresh = Codec(codec().catalogue)
    event = samples()["homeward.alerts.AgencyAcknowledgement"]
    record, _ = fresh.encode(event, key=event.case_id, source="/t")
    name = event.avro_name
    assert fresh.decode_value(record.value, name) == fresh.decode_value(record.value)
    with pytest.raises(CodecError) as caught:
        fresh.decode_value(record.value, "homeward.alerts.NoSuchEvent")
    assert caught.value.field == "schema"
    assert len(fresh._reading) == 2  # the failed lookup is not remembered


def test_the_classification_header_keeps_its_enum() -> None:
    event = samples()["homeward.alerts.PublicNotice"]
    record, _ = codec().encode(event, key=event.case_id, source="/t")
    meta = codec().decode(record.value, record.headers).meta
    assert meta.classification is Classification.PUBLIC
