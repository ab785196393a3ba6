"""The wire contract in code: Avro single-object encoding for the value and
CloudEvents 1.0 (Kafka binary mode) for the headers.

Value: C3 01, the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema, then the Avro binary body (Avro spec, "Single object encoding").
Every failure, in either direction, is a CodecError naming the field.

Every record of every service passes through here, so the hot paths are
written for speed (docs/benchmarks.md): the headers that never change are
built once, the happy path of header parsing is checked in one go (the
careful, field-by-field path runs only to name what is wrong), and what a
fingerprint resolves to is looked up once per schema.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

import pydantic
from fastavro import schemaless_reader, schemaless_writer
from fastavro.const import AVRO_TYPES

from homeward.avro_bounds import compile_check
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

# Header tuples are immutable: one instance serves every record.
_SPECVERSION_HEADER = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())
_CLASSIFICATIONS = {c.value: c for c in Classification}


@lru_cache(maxsize=512)
def _type_headers(ce_type: str) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    return ("ce_type", ce_type.encode()), ("ce_dataschema", f"urn:homeward:avro:{ce_type}".encode())


def _ce_time(time: datetime) -> bytes:
    """time.astimezone(UTC).isoformat(timespec="milliseconds").encode(), in half the time."""
    t = time.astimezone(UTC)
    ms = t.microsecond // 1000
    return b"%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00" % (
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms,
    )


def new_event_id() -> str:
    """A random (version 4) UUID as text: str(uuid.uuid4()) at a third of the cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The frozen dataclasses below write their fields straight into __dict__: a
# generated frozen __init__ pays an object.__setattr__ per field, which was
# a fifth of encoding a small record. They stay frozen to everyone else.
@dataclass(frozen=True, init=False)
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

    def __init__(
        self,
        id: str,
        source: str,
        type: str,
        time: datetime,
        subject: str,
        correlation_id: str,
        causation_id: str | None,
        classification: Classification,
    ) -> None:
        d = self.__dict__
        d["id"] = id
        d["source"] = source
        d["type"] = type
        d["time"] = time
        d["subject"] = subject
        d["correlation_id"] = correlation_id
        d["causation_id"] = causation_id
        d["classification"] = classification

    def to_headers(self) -> Headers:
        ce_type, dataschema = _type_headers(self.type)
        headers: Headers = [
            _SPECVERSION_HEADER,
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ce_type,
            ("ce_time", _ce_time(self.time)),
            ("ce_subject", self.subject.encode()),
            _CONTENT_TYPE_HEADER,
            dataschema,
            ("ce_correlationid", self.correlation_id.encode()),
            # A StrEnum is its value: str.encode skips the Enum.value property.
            ("ce_classification", str.encode(self.classification)),
        ]
        if self.causation_id:
            headers.append(("ce_causationid", self.causation_id.encode()))
        return headers

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> EventMeta:
        h: dict[str, str] = {}
        name = ""
        try:
            for name, raw in headers:
                h[name] = raw.decode() if raw else ""
        except UnicodeDecodeError:
            raise CodecError("header is not UTF-8", field=f"headers.{name}") from None
        # The fast path: every required header present and well formed. Anything
        # else goes to _checked, which names the first fault.
        try:
            spec = h["ce_specversion"]
            id_ = h["ce_id"]
            source = h["ce_source"]
            ce_type = h["ce_type"]
            when = h["ce_time"]
            subject = h["ce_subject"]
            classification = _CLASSIFICATIONS[h["ce_classification"]]
            if spec == SPECVERSION and id_ and source and ce_type and when and subject:
                return cls(
                    id_,
                    source,
                    ce_type,
                    aware(datetime.fromisoformat(when)),
                    subject,
                    h.get("ce_correlationid") or subject,
                    h.get("ce_causationid") or None,
                    classification,
                )
        except (KeyError, ValueError, OverflowError):
            pass
        return cls._checked(h)

    @classmethod
    def _checked(cls, h: dict[str, str]) -> EventMeta:
        """The headers one check at a time, in a fixed order: the first fault is named."""

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
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is past year 9999 in UTC
            raise CodecError(
                "outside the years 1 to 9999 once in UTC", field="headers.ce_time"
            ) from None
        classification = _CLASSIFICATIONS.get(need("ce_classification"))
        if classification is None:
            raise CodecError(
                f"must be one of {[c.value for c in Classification]}",
                field="headers.ce_classification",
            )
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


@dataclass(frozen=True, init=False)
class Record:
    """What goes to Kafka: key, value and headers, all bytes."""

    key: bytes
    value: bytes
    headers: Headers

    def __init__(self, key: bytes, value: bytes, headers: Headers) -> None:
        d = self.__dict__
        d["key"] = key
        d["value"] = value
        d["headers"] = headers


@dataclass(frozen=True, init=False)
class Decoded:
    event: Event
    meta: EventMeta
    writer: SchemaEntry

    def __init__(self, event: Event, meta: EventMeta, writer: SchemaEntry) -> None:
        d = self.__dict__
        d["event"] = event
        d["meta"] = meta
        d["writer"] = writer


def needs_record_names(schema: Any) -> bool:
    """Whether fastavro, asked for record names, can return a (name, record) tuple
    for a parsed `schema`: only from a union of two or more records (as fastavro
    counts them: a reference to any named type is one). Without such a union the
    flags change nothing, and cost a tenth of a small record's read."""
    if isinstance(schema, list):
        kinds = [b.get("type") if isinstance(b, dict) else b for b in schema]
        named = sum(k == "record" or (isinstance(k, str) and k not in AVRO_TYPES) for k in kinds)
        return named >= 2 or any(needs_record_names(b) for b in schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return any(needs_record_names(f["type"]) for f in schema["fields"])
        if kind == "array":
            return needs_record_names(schema["items"])
        if kind == "map":
            return needs_record_names(schema["values"])
        return isinstance(kind, (list, dict)) and needs_record_names(kind)
    return False


class _Reading(NamedTuple):
    """What a writer's fingerprint resolves to, for one reader."""

    writer: SchemaEntry
    reader_parsed: Any  # None when the reader is the writer
    record_names: bool
    check: Callable[[bytes, int], int]  # the structure walk, before fastavro


class Codec:
    """Encodes event models to records and back, against one catalogue (fixed:
    what each schema resolves to is remembered)."""

    def __init__(
        self, catalogue: Catalogue | None = None, max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    ) -> None:
        self.catalogue = catalogue or default_catalogue()
        self.max_value_bytes = max_value_bytes
        self._writing: dict[str, tuple[bytes, Any]] = {}  # name -> (C3 01 + fingerprint, parsed)
        # By fingerprint, or (fingerprint, reader name) when a reader is named.
        self._reading: dict[bytes | tuple[bytes, str], _Reading] = {}

    # -- value ---------------------------------------------------------------
    def encode_value(self, schema_name: str, datum: Mapping[str, Any]) -> bytes:
        writing = self._writing.get(schema_name)
        if writing is None:
            entry = self.catalogue.by_name(schema_name)
            writing = self._writing[schema_name] = (MAGIC + entry.fingerprint, entry.parsed)
        prefix, parsed = writing
        buf = io.BytesIO()
        buf.write(prefix)
        try:
            schemaless_writer(buf, parsed, datum)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"does not fit schema {schema_name}: {exc}", field="value") from exc
        value = buf.getvalue()
        if len(value) > self.max_value_bytes:
            raise CodecError(
                f"encoded size {len(value)} exceeds the cap of {self.max_value_bytes} bytes",
                field="value",
            )
        return value

    def _resolve(self, fp: bytes, reader_name: str | None) -> _Reading:
        writer = self.catalogue.by_fingerprint(fp)
        reader = self.catalogue.by_name(reader_name or writer.name)
        reading = _Reading(
            writer,
            None if reader is writer else reader.parsed,
            needs_record_names(writer.parsed),
            compile_check(writer.expanded, writer.name),
        )
        self._reading[fp if reader_name is None else (fp, reader_name)] = reading
        return reading

    def decode_value(
        self, value: bytes | None, reader_name: str | None = None
    ) -> tuple[SchemaEntry, dict[str, Any]]:
        if value is None:
            raise CodecError("record has no value (tombstone)", field="value")
        size = len(value)
        if size > self.max_value_bytes:
            raise CodecError(
                f"size {size} exceeds the cap of {self.max_value_bytes} bytes", field="value"
            )
        if size < HEADER_LEN or value[:2] != MAGIC:
            raise CodecError("not Avro single-object encoding (no C3 01 marker)", field="value")
        fp = value[2:HEADER_LEN]
        writer, reader_parsed, record_names, check = self._reading.get(
            fp if reader_name is None else (fp, reader_name)
        ) or self._resolve(fp, reader_name)
        # Indexes, lengths and item counts, checked before fastavro builds any
        # value (it trusts them all): a refusal costs a bounded walk.
        end = check(value, HEADER_LEN)
        if end != size:
            raise CodecError(
                f"{size - end} trailing bytes after the {writer.name} body", field="value"
            )
        body = io.BytesIO(value)
        body.seek(HEADER_LEN)
        try:
            if record_names:
                datum = schemaless_reader(
                    body,
                    writer.parsed,
                    reader_parsed,
                    return_record_name=True,
                    return_record_name_override=True,
                )
            else:
                datum = schemaless_reader(body, writer.parsed, reader_parsed)
        except Exception as exc:
            raise CodecError(
                f"cannot be read as {writer.name}: {type(exc).__name__}: {exc}", field="value"
            ) from exc
        if body.tell() != size:
            raise CodecError(
                f"{size - body.tell()} trailing bytes after the {writer.name} body",
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
        case_id = event.case_id
        name = event.avro_name  # ce_type is the Avro full name (decode holds them equal)
        meta = EventMeta(
            event_id or new_event_id(),
            source,
            name,
            aware(time or utcnow()),  # the ce_time header carries milliseconds
            case_id,
            correlation_id or case_id,
            causation_id,
            classification or event.data_classification(),
        )
        value = self.encode_value(name, event.to_avro())
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
        # Validated in full, as any input: the Avro schema fixes the types, not
        # the bounds, patterns and enumerations the models hold.
        try:
            event = model.from_avro(datum)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CodecError(first["msg"], field=f"value.{where}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise CodecError(f"{type(exc).__name__}: {exc}", field="value") from exc
        return Decoded(event, meta, writer)
