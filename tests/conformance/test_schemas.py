"""What every schema in schemas/avro/ must pass, whoever adds it.

- file naming, no recursion, no array/map item that can encode to zero bytes;
- schemas and event models match one to one;
- every event round-trips through the Codec, and what the Codec writes is
  read by Apache's avro library and the official CloudEvents SDK;
- the current schemas can read what the last release wrote
  (Apache avro's ReaderWriterCompatibilityChecker).
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, get_args

import avro.io
import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.v1.kafka import KafkaMessage as V1KafkaMessage
from cloudevents.v1.kafka import from_binary as v1_from_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from homeward import paths
from homeward.catalogue import Catalogue
from homeward.codec import HEADER_LEN, Codec, EventMeta, Record
from homeward.events import EVENT_TYPES, Event
from tests.conformance import avsc
from tests.conformance.strategies import for_model, samples

SCHEMA_DIR = paths.schema_dir()
RELEASED_DIR = paths.released_schema_dir()
EVENT_NAMES = sorted(EVENT_TYPES)

PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def raw_current() -> dict[str, Any]:
    return avsc.read_dir(SCHEMA_DIR)


@cache
def catalogue() -> Catalogue:
    return Catalogue.load()


@cache
def codec() -> Codec:
    return Codec(catalogue())


def release_dirs() -> list[Path]:
    if not RELEASED_DIR.is_dir():
        return []

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in p.name.split("."))

    return sorted((p for p in RELEASED_DIR.iterdir() if p.is_dir()), key=version)


# -- shape rules ---------------------------------------------------------------
@pytest.mark.parametrize("directory", [SCHEMA_DIR, *release_dirs()], ids=lambda p: p.name)
def test_every_file_is_named_namespace_dot_name(directory: Path) -> None:
    files = sorted(directory.glob("*.avsc"))
    assert files, f"no .avsc files in {directory}"
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw.get("namespace"), f"{path.name}: declare a namespace"
        assert "." not in raw["name"], f"{path.name}: put the namespace in 'namespace'"
        assert path.name == f"{raw['namespace']}.{raw['name']}.avsc", path.name


def test_no_schema_is_recursive() -> None:
    assert avsc.find_cycle(avsc.reference_graph(raw_current())) is None


def test_the_recursion_check_finds_an_indirect_cycle() -> None:
    raw = {
        "t.A": {
            "type": "record",
            "name": "A",
            "namespace": "t",
            "fields": [{"name": "b", "type": ["null", "t.B"]}],
        },
        "t.B": {
            "type": "record",
            "name": "B",
            "namespace": "t",
            "fields": [{"name": "a", "type": {"type": "array", "items": "A"}}],
        },
    }
    assert avsc.find_cycle(avsc.reference_graph(raw)) == ["t.A", "t.B", "t.A"]


def test_every_array_and_map_item_encodes_to_at_least_one_byte() -> None:
    raw = raw_current()
    defs = avsc.named_definitions(raw)
    offenders = [
        f"{owner}.{field}"
        for owner, field, item, space in avsc.collection_items(raw)
        if avsc.min_encoded_size(item, defs, space) < 1
    ]
    assert not offenders, f"array/map items that may take no bytes: {offenders}"


@pytest.mark.parametrize(
    "item",
    [
        "null",
        {"type": "record", "name": "Empty", "fields": []},
        {"type": "record", "name": "Nulls", "fields": [{"name": "n", "type": "null"}]},
    ],
    ids=["null", "empty-record", "record-of-null"],
)
def test_the_item_size_check_flags_zero_byte_items(item: Any) -> None:
    raw = {
        "t.R": {
            "type": "record",
            "name": "R",
            "namespace": "t",
            "fields": [{"name": "xs", "type": {"type": "array", "items": item}}],
        }
    }
    defs = avsc.named_definitions(raw)
    ((_, _, found, space),) = list(avsc.collection_items(raw))
    assert avsc.min_encoded_size(found, defs, space) == 0


def test_every_named_type_is_an_event_or_used_by_one() -> None:
    raw = raw_current()
    graph = avsc.reference_graph(raw)
    used = avsc.reachable(graph, set(EVENT_TYPES))
    assert not set(avsc.named_definitions(raw)) - used


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_every_event_model_has_a_record_schema_with_the_same_fields(name: str) -> None:
    raw = raw_current()
    assert name in raw, f"{EVENT_TYPES[name].__name__} has no schemas/avro/{name}.avsc"
    defs = avsc.named_definitions(raw)

    # Every model reached, however nested (optional, list, union): the codec
    # decodes with extra keys ignored, which is safe only while the datum's
    # keys, the schema's fields, are exactly the model's.
    def same_fields(model: type[BaseModel], record: dict[str, Any], space: str) -> None:
        assert record["type"] == "record"
        schema_fields = {f["name"]: f["type"] for f in record["fields"]}
        assert set(model.model_fields) == set(schema_fields), model.__name__
        for fname, info in model.model_fields.items():
            records = {
                ref.rpartition(".")[2]: ref
                for ref in avsc.direct_references(schema_fields[fname], space)
                if defs[ref][0]["type"] == "record"
            }
            models = {m.__name__: m for m in _models_in(info.annotation)}
            assert set(models) == set(records), f"{model.__name__}.{fname}"
            for short, nested_model in models.items():
                nested, nested_space = defs[records[short]]
                same_fields(nested_model, nested, nested_space)

    same_fields(EVENT_TYPES[name], raw[name], name.rpartition(".")[0])


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type):
        return [annotation] if issubclass(annotation, BaseModel) else []
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


# -- round trips ---------------------------------------------------------------
def _encode(event: Event) -> tuple[Record, EventMeta]:
    return codec().encode(
        event, key=event.case_id, source="/homeward/conformance", causation_id="cause-1"
    )


@pytest.mark.parametrize("name", EVENT_NAMES)
@PROPERTY
@given(data=st.data())
def test_every_event_round_trips_through_the_codec(name: str, data: st.DataObject) -> None:
    event = data.draw(for_model(EVENT_TYPES[name]), label="event")
    record, meta = _encode(event)
    decoded = codec().decode(record.value, record.headers)
    assert decoded.event == event
    assert decoded.meta == meta
    assert decoded.writer.name == name


@cache
def apache_schema(name: str) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(catalogue().by_name(name).expanded))


def _plain(value: Any) -> Any:
    """A datum as both libraries agree on it: union branches untagged, times in ms."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return _plain(value[1])  # fastavro's (record name, datum) union notation
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return value


@pytest.mark.parametrize("name", EVENT_NAMES)
@PROPERTY
@given(data=st.data())
def test_apache_avro_reads_what_the_codec_writes(name: str, data: st.DataObject) -> None:
    event = data.draw(for_model(EVENT_TYPES[name]), label="event")
    record, _ = _encode(event)
    body = io.BytesIO(record.value[HEADER_LEN:])
    datum = avro.io.DatumReader(apache_schema(name)).read(avro.io.BinaryDecoder(body))
    assert body.tell() == len(record.value) - HEADER_LEN, "Apache avro left bytes unread"
    assert _plain(datum) == _plain(event.to_avro())


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_apache_avro_computes_the_fingerprint_in_the_header(name: str) -> None:
    event = samples()[name]
    record, _ = _encode(event)
    expanded = catalogue().by_name(name).expanded
    schema = avro.schema.parse(json.dumps(avsc.strip_logical_types(expanded)))
    assert schema.fingerprint("CRC-64-AVRO") == record.value[2:HEADER_LEN]


@pytest.mark.xfail(
    strict=True,
    reason="Apache avro (Python) keeps {'type': 'long'} for a logical type in the canonical "
    'form; once it writes "long" as the spec says, drop avsc.strip_logical_types',
)
def test_apache_python_canonical_form_of_a_logical_type() -> None:
    schema = avro.schema.parse('{"type": "long", "logicalType": "timestamp-millis"}')
    assert schema.canonical_form == '"long"'


class _KeepBytes(JSONFormat):
    """A CloudEvents format that hands the value over untouched (it is Avro)."""

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:  # type: ignore[override]
        return body


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_the_cloudevents_sdk_reads_our_records(name: str) -> None:
    event = samples()[name]
    record, meta = _encode(event)
    headers = dict(record.headers)
    assert len(headers) == len(record.headers), "a header is repeated"

    legacy = v1_from_binary(
        V1KafkaMessage(headers=headers, key=record.key, value=record.value),
        data_unmarshaller=lambda value: value,
    )
    assert legacy["specversion"] == "1.0"
    assert legacy["id"] == meta.id
    assert legacy["source"] == meta.source
    assert legacy["type"] == name
    assert datetime.fromisoformat(legacy["time"]) == meta.time
    assert legacy["subject"] == event.case_id
    assert legacy["datacontenttype"] == "application/avro"
    assert legacy["correlationid"] == event.case_id
    assert legacy["causationid"] == "cause-1"
    assert legacy["classification"] == event.data_classification().value
    assert legacy.get_data() == record.value

    core = ce_kafka.from_binary(
        ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value), _KeepBytes()
    )
    assert core.get_id() == meta.id
    assert core.get_source() == meta.source
    assert core.get_type() == name
    assert core.get_time() == meta.time
    assert core.get_subject() == event.case_id
    assert core.get_datacontenttype() == "application/avro"
    assert core.get_extension("correlationid") == event.case_id
    assert core.get_extension("causationid") == "cause-1"
    assert core.get_extension("classification") == event.data_classification().value
    assert core.get_extension("partitionkey") == event.case_id
    assert core.get_data() == record.value


def test_every_event_type_has_a_sample() -> None:
    assert set(samples()) == set(EVENT_TYPES)


# -- compatibility with the last release -----------------------------------------
def incompatibilities(current_dir: Path, released_dir: Path) -> list[str]:
    """Why the current schemas could not read data written with the released ones."""
    current, released = avsc.read_dir(current_dir), avsc.read_dir(released_dir)
    problems: list[str] = []
    checker = ReaderWriterCompatibilityChecker()
    for name in sorted(released):
        if name not in current:
            problems.append(f"{name}: removed")
            continue
        reader = avro.schema.parse(json.dumps(avsc.standalone(name, current)))
        writer = avro.schema.parse(json.dumps(avsc.standalone(name, released)))
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            kinds = sorted(i.name for i in result.incompatibilities)
            problems.append(
                f"{name}: {kinds} at {sorted(result.locations)}: {sorted(result.messages)}"
            )
    return problems


def test_there_is_a_release_to_compare_with() -> None:
    assert release_dirs(), f"no released schemas under {RELEASED_DIR}"


def test_current_schemas_read_data_written_with_the_last_release() -> None:
    if not release_dirs():
        pytest.fail(f"no released schemas under {RELEASED_DIR}")
    latest = release_dirs()[-1]
    assert not incompatibilities(SCHEMA_DIR, latest), f"breaks compatibility with {latest.name}"


def _edit(directory: Path, name: str, change: Any) -> None:
    path = directory / f"{name}.avsc"
    raw = json.loads(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(json.dumps(raw), encoding="utf-8")


@pytest.fixture
def evolving(tmp_path: Path) -> tuple[Path, Path]:
    """A released copy and a current copy of today's schemas, to break."""
    released, current = tmp_path / "released" / "0.1.0", tmp_path / "current"
    shutil.copytree(SCHEMA_DIR, released)
    shutil.copytree(SCHEMA_DIR, current)
    return current, released


def _add_field(field: dict[str, Any]) -> Any:
    return lambda raw: raw["fields"].append(field)


def test_a_new_field_with_a_default_stays_compatible(evolving: tuple[Path, Path]) -> None:
    current, released = evolving
    _edit(
        current,
        "homeward.alerts.AlertIssued",
        _add_field({"name": "reward", "type": ["null", "string"], "default": None}),
    )
    assert incompatibilities(current, released) == []


@pytest.mark.parametrize(
    ("name", "change", "kind"),
    [
        (
            "homeward.alerts.AlertIssued",
            _add_field({"name": "reward", "type": "string"}),
            "reader_field_missing_default_value",
        ),
        (
            "homeward.common.Location",
            lambda raw: raw["fields"][0].update(type="string"),
            "type_mismatch",
        ),
        (
            "homeward.alerts.CancelReason",
            lambda raw: (raw.pop("default"), raw["symbols"].remove("FALSE_REPORT")),
            "missing_enum_symbols",
        ),
    ],
    ids=["new-field-without-default", "changed-field-type", "removed-enum-symbol"],
)
def test_the_compatibility_check_catches_a_breaking_change(
    evolving: tuple[Path, Path], name: str, change: Any, kind: str
) -> None:
    current, released = evolving
    _edit(current, name, change)
    problems = incompatibilities(current, released)
    assert problems, "the checker let a breaking change through"
    assert any(kind in p for p in problems), problems


def test_removing_a_released_schema_is_caught(evolving: tuple[Path, Path]) -> None:
    current, released = evolving
    (current / "homeward.alerts.AgencyAcknowledgement.avsc").unlink()
    assert incompatibilities(current, released) == [
        "homeward.alerts.AgencyAcknowledgement: removed"
    ]
