"""The wire contract in code: Avro single-object encoding for the value and
CloudEvents 1.0 (Kafka binary mode) for the headers.

Value: C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema, then the Avro binary body (Avro spec, "Single object encoding").
Every failure, in either direction, is a CodecError naming the field.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic
from fastavro import schemaless_reader, schemaless_writer

from homeward.catalogue import Catalogue, SchemaEntry, default_catalogue
from homeward.errors import CodecError
from homeward.events import EVENT_TYPES, Classification, Event
from homeward.events.base import aware, utcnow

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8
# Large enough for any alert with its texts; small enough that a hostile
# record cannot make the decoder allocate much (see GUIDE: known traps).
DEFAULT_MAX_VALUE_BYTES = 256 * 1024
CONTENT_TYPE = "application/avro"
SPECVERSION = "1.0"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class EventMeta:
    """The CloudEvents attributes of one record, plus Homeward's extensions."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str
    correlation_id: str
    causation_id: str | None
    classification: Classification

    def to_headers(self) -> Headers:
        headers: Headers = [
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.astimezone(UTC).isoformat(timespec="milliseconds").encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", CONTENT_TYPE.encode()),
            ("ce_dataschema", f"urn:homeward:avro:{self.type}".encode()),
            ("ce_correlationid", self.correlation_id.encode()),
            ("ce_classification", self.classification.value.encode()),
        ]
        if self.causation_id:
            headers.append(("ce_causationid", self.causation_id.encode()))
        return headers

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> EventMeta:
        h: dict[str, str] = {}
        for name, raw in headers:
            try:
                h[name] = (raw or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise CodecError("header is not UTF-8", field=f"headers.{name}") from None

        def need(name: str) -> str:
            value = h.get(name)
            if not value:
                raise CodecError("required CloudEvents header is missing", field=f"headers.{name}")
            return value

        if need("ce_specversion") != SPECVERSION:
            raise CodecError(
                f"only CloudEvents {SPECVERSION} is read", field="headers.ce_specversion"
            )
        try:
            time = aware(datetime.fromisoformat(need("ce_time")))
        except ValueError:
            raise CodecError(
                "not an RFC 3339 time with a time zone", field="headers.ce_time"
            ) from None
        try:
            classification = Classification(need("ce_classification"))
        except ValueError:
            raise CodecError(
                f"must be one of {[c.value for c in Classification]}",
                field="headers.ce_classification",
            ) from None
        return cls(
            id=need("ce_id"),
            source=need("ce_source"),
            type=need("ce_type"),
            time=time,
            subject=need("ce_subject"),
            correlation_id=h.get("ce_correlationid") or h.get("ce_subject", ""),
            causation_id=h.get("ce_causationid") or None,
            classification=classification,
        )


@dataclass(frozen=True)
class Record:
    """What goes to Kafka: key, value and headers, all bytes."""

    key: bytes
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Decoded:
    event: Event
    meta: EventMeta
    writer: SchemaEntry


class Codec:
    """Encodes event models to records and back, against one catalogue."""

    def __init__(
        self, catalogue: Catalogue | None = None, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    ) -> None:
        self.catalogue = catalogue or default_catalogue()
        self.max_value_bytes = max_value_bytes

    # -- value ---------------------------------------------------------------
    def encode_value(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        entry = self.catalogue.by_name(schema_name)
        buf = io.BytesIO()
        buf.write(MAGIC)
        buf.write(entry.fingerprint)
        try:
            schemaless_writer(buf, entry.parsed, datum)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"does not fit schema {schema_name}: {exc}", field="value") from exc
        value = buf.getvalue()
        if len(value) > self.max_value_bytes:
            raise CodecError(
                f"encoded size {len(value)} exceeds the cap of {self.max_value_bytes} bytes",
                field="value",
            )
        return value

    def decode_value(
        self, value: bytes | None, reader_name: str | None = None
    ) -> tuple[SchemaEntry, dict[str, Any]]:
        if value is None:
            raise CodecError("record has no value (tombstone)", field="value")
        if len(value) > self.max_value_bytes:
            raise CodecError(
                f"size {len(value)} exceeds the cap of {self.max_value_bytes} bytes", field="value"
            )
        if len(value) < HEADER_LEN or value[:2] != MAGIC:
            raise CodecError("not Avro single-object encoding (no C3 01 marker)", field="value")
        writer = self.catalogue.by_fingerprint(value[2:HEADER_LEN])
        reader = self.catalogue.by_name(reader_name or writer.name)
        body = io.BytesIO(value)
        body.seek(HEADER_LEN)
        try:
            datum = schemaless_reader(
                body,
                writer.parsed,
                reader.parsed,
                return_record_name=True,
                return_record_name_override=True,
            )
        except Exception as exc:
            raise CodecError(
                f"cannot be read as {writer.name}: {type(exc).__name__}: {exc}", field="value"
            ) from exc
        if body.tell() != len(value):
            raise CodecError(
                f"{len(value) - body.tell()} trailing bytes after the {writer.name} body",
                field="value",
            )
        if not isinstance(datum, dict):
            raise CodecError(f"{writer.name} is not a record schema", field="value")
        return writer, datum

    # -- whole records -------------------------------------------------------
    def encode(
        self,
        event: Event,
        *,
        key: str,
        source: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
        classification: Classification | None = None,
    ) -> tuple[Record, EventMeta]:
        meta = EventMeta(
            id=event_id or str(uuid.uuid4()),
            source=source,
            type=event.ce_type(),
            time=aware(time or utcnow()),  # the ce_time header carries milliseconds
            subject=event.case_id,
            correlation_id=correlation_id or event.case_id,
            causation_id=causation_id,
            classification=classification or event.data_classification(),
        )
        value = self.encode_value(event.avro_name, event.to_avro())
        return Record(key.encode(), value, meta.to_headers()), meta

    def decode(
        self, value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None
    ) -> Decoded:
        meta = EventMeta.from_headers(headers or [])
        writer, datum = self.decode_value(value)
        model = EVENT_TYPES.get(writer.name)
        if model is None:
            raise CodecError(f"{writer.name} is not an event type", field="value")
        if meta.type != writer.name:
            raise CodecError(
                f"says {meta.type!r} but the value is {writer.name!r}", field="headers.ce_type"
            )
        try:
            event = model.from_avro(datum)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CodecError(first["msg"], field=f"value.{where}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise CodecError(f"{type(exc).__name__}: {exc}", field="value") from exc
        return Decoded(event, meta, writer)
