"""HealthRecorder: validate, key and publish hospital records, one or a batch.

Everything that can be refused is refused before anything is sent: the model
(pydantic), then the Avro schema (the codec). A batch is validated whole
first, so a bad record in it sends none of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, get_args

import pydantic

from homeward import kafka as hkafka
from homeward.actors import agency_actor
from homeward.codec import Codec, Record
from homeward.errors import CodecError, HomewardError, ValidationError
from homeward.events import (
    AdmissionRegistered,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
)
from homeward.metrics import SDK_REFUSED, SDK_SENT
from homeward.settings import KafkaSettings
from homeward.topology import Topology

HealthRecord = AdmissionRegistered | DeliveryRecorded | BirthCertificateIssued | DischargeRecorded
RECORD_TYPES: dict[str, type[HealthRecord]] = {}
for _cls in (AdmissionRegistered, DeliveryRecorded, BirthCertificateIssued, DischargeRecorded):
    RECORD_TYPES[_cls.avro_name] = _cls
    RECORD_TYPES[_cls.__name__] = _cls  # the short name is accepted too

TOPIC_ID = "health_records"
SDK = "health"  # the metrics' sdk label
SOURCE_PREFIX = "/homeward/health/"
# Fixed forever: the event id of a record is derived from its content under it.
HEALTH_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:homeward:health")


def _field_names(models: Iterable[type[pydantic.BaseModel]]) -> frozenset[str]:
    """Every field name in the models and the models nested in them."""
    names: set[str] = set()
    todo, seen = list(models), set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(name)
            todo += [t for t in _types_in(info.annotation) if issubclass(t, pydantic.BaseModel)]
    return frozenset(names)


def _types_in(annotation: Any) -> list[type]:
    if isinstance(annotation, type):
        return [annotation]
    return [t for arg in get_args(annotation) for t in _types_in(arg)]


KNOWN_FIELDS = _field_names(set(RECORD_TYPES.values())) | {"type", "record", "key", "topic"}


def field_label(field: str | None) -> str:
    """The field at fault as a metric label: list positions as `*`, and a name
    no record declares (a key the sender made up) as `other`, so the label's
    values stay few and never carry what a sender typed."""
    parts = ["*" if p.isdigit() else p for p in (field or "record").split(".")]
    if any(p != "*" and p not in KNOWN_FIELDS for p in parts):
        return "other"
    return ".".join(parts)


class RecordRejected(ValidationError):
    """A record is not valid; nothing was sent. `index` is its place in a batch."""

    def __init__(self, reason: str, *, field: str | None, index: int | None = None) -> None:
        super().__init__(reason, field=field)
        self.index = index
        if index is not None:
            self.args = (f"record {index}: {self.args[0]}",)


class RecordUnavailable(HomewardError):
    """Kafka did not acknowledge in time; the record may or may not be on the bus.

    Sending the same record again is safe: its event id is derived from its
    content, so the detector drops the second copy."""


@dataclass(frozen=True)
class Recorded:
    """A record the broker acknowledged."""

    event_id: str
    type: str
    key: str
    topic: str
    partition: int
    offset: int


class Producer(Protocol):
    """What the recorder needs of kafka-python's KafkaProducer."""

    def send(
        self, topic: str, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Any: ...

    def close(self, timeout: float | None = None) -> None: ...


def _field(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "record"


def parse(record: HealthRecord | Mapping[str, Any]) -> HealthRecord:
    """A validated health record, from a model or a dict naming its "type".

    A model is validated again: one built with model_construct, or one of
    another type, must not slip through."""
    if isinstance(record, Mapping):
        data = dict(record)
        kind = data.pop("type", None)
        cls = RECORD_TYPES.get(str(kind)) if kind is not None else None
        if cls is None:
            known = ", ".join(c.__name__ for c in set(RECORD_TYPES.values()))
            raise RecordRejected(f"must name one of: {known}", field="type")
    elif isinstance(
        record, AdmissionRegistered | DeliveryRecorded | BirthCertificateIssued | DischargeRecorded
    ):
        cls = type(record)
        # Dumped, so nested models are validated again too (pydantic trusts instances).
        data = record.model_dump(warnings=False)
    else:
        raise RecordRejected(f"{type(record).__name__} is not a health record", field="type")
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise RecordRejected(str(first["msg"]), field=_field(first["loc"])) from None


def key_of(record: HealthRecord) -> str:
    """The partition key: the person whose records these are."""
    if isinstance(record, AdmissionRegistered | DischargeRecorded):
        # A newborn's discharge names the mother as its patient.
        return record.patient.id_number
    return record.mother.id_number


def event_id_of(record: HealthRecord) -> str:
    """uuid5 of the record's type and content: the same record sent twice is one
    event to the detector; a certificate number reused on a different record
    is a second event (and an anomaly), never mistaken for a retry."""
    canonical = json.dumps(
        {"type": record.ce_type(), "record": record.model_dump(mode="json")},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return str(uuid.uuid5(HEALTH_NAMESPACE, digest))


class HealthRecorder:
    """Publishes a hospital's records to health.records.v1 and waits for the ack."""

    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        topology: Topology | None = None,
        source: str | None = None,
        codec: Codec | None = None,
        producer: Producer | None = None,
        timeout_seconds: float = 15.0,
        hospital_id: str | None = None,
        principal: str | None = None,
    ) -> None:
        """`source` is the ce_source; by default /homeward/health/<hospital_id> of
        each record. `producer` replaces the Kafka producer (tests only).

        Each record's actor is the hospital it is recorded for (the detector
        judges only records whose actor is of the hospital they name), under
        `principal` (default the Kafka user, else agency:<hospital id>). Given
        `hospital_id`, the recorder acts for that hospital only and refuses a
        record of another; without it, for the hospital each record names (a
        records system serving several, as the demo's)."""
        self.hospital_id = hospital_id
        self.settings = settings or KafkaSettings()
        self.topology = topology or Topology.load(prefix=self.settings.topic_prefix)
        self.topic = self.topology.get(TOPIC_ID).name
        self.source = source
        self.codec = codec or Codec()
        self.timeout = timeout_seconds
        self.principal = principal or self.settings.sasl_username
        self._producer: Producer = producer or hkafka.producer(
            self.settings,
            max_block_ms=int(timeout_seconds * 1000),
            request_timeout_ms=int(timeout_seconds * 1000),
            # Retry (a leader election, a broker restart) for as long as record()
            # waits; kafka-python wants at least request timeout + linger.
            delivery_timeout_ms=int(timeout_seconds * 1000) + 1000,
        )

    def encode(
        self,
        record: HealthRecord | Mapping[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> tuple[HealthRecord, str, Record]:
        """The validated record, its key and the Kafka record; RecordRejected if bad."""
        event = parse(record)
        if self.hospital_id is not None and event.hospital_id != self.hospital_id:
            raise RecordRejected(
                f"this recorder records for {self.hospital_id!r} only", field="hospital_id"
            )
        key = key_of(event)
        # The id from the content alone, as before actors: who sends it is not
        # what it is, so the same record sent twice stays one event.
        event_id = event_id or event_id_of(event.model_copy(update={"actor": None}))
        actor = agency_actor(event.hospital_id, "health", self.principal)
        event = event.model_copy(update={"actor": actor})
        try:
            encoded, _meta = self.codec.encode(
                event,
                key=key,
                source=self.source or SOURCE_PREFIX + event.hospital_id,
                event_id=event_id,
                time=time,
            )
        except CodecError as exc:
            raise RecordRejected(exc.reason, field=exc.field) from None
        return event, key, encoded

    def _checked(
        self,
        record: HealthRecord | Mapping[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> tuple[HealthRecord, str, Record]:
        try:
            return self.encode(record, event_id=event_id, time=time)
        except RecordRejected as exc:
            SDK_REFUSED.labels(SDK, field_label(exc.field)).inc()
            raise

    def record(
        self,
        record: HealthRecord | Mapping[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Recorded:
        """Validate, publish and wait for the broker's acknowledgement."""
        return self._send([self._checked(record, event_id=event_id, time=time)])[0]

    def record_many(self, records: Iterable[HealthRecord | Mapping[str, Any]]) -> list[Recorded]:
        """Validate every record, then publish them all and wait for every ack.

        One bad record (RecordRejected, its `index` set) sends none."""
        encoded = []
        for i, record in enumerate(records):
            try:
                encoded.append(self._checked(record))
            except RecordRejected as exc:
                raise RecordRejected(exc.reason, field=exc.field, index=i) from None
        return self._send(encoded)

    def _send(self, encoded: list[tuple[HealthRecord, str, Record]]) -> list[Recorded]:
        try:
            futures = [
                (event, key, rec, hkafka.send(self._producer, self.topic, rec))
                for event, key, rec in encoded
            ]
            out = []
            for event, key, rec, future in futures:
                meta = future.get(timeout=self.timeout)
                ce_id = dict(rec.headers)["ce_id"].decode()
                out.append(
                    Recorded(ce_id, event.ce_type(), key, self.topic, meta.partition, meta.offset)
                )
                SDK_SENT.labels(SDK, self.topic, event.ce_type()).inc()
            return out
        except Exception as exc:  # kafka-python's KafkaError, or a timeout
            raise RecordUnavailable(
                f"Kafka did not acknowledge within {self.timeout:g}s: {type(exc).__name__}: {exc}",
                field="topic",
            ) from exc

    def close(self) -> None:
        self._producer.close(timeout=5)

    def __enter__(self) -> HealthRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
