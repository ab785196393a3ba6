"""What the detector keeps, per person and per index key, as JSON in its Faust
tables, and the deterministic ids of what it raises.

Only what the rules compare is kept: id numbers, hospital ids, record ids,
times and event ids; never a name or a baby's details. Every entry carries the
moment it may be forgotten, so a key's state shrinks to nothing once its
windows have closed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from homeward.events import Event

T = TypeVar("T")
NAMESPACE = uuid.UUID("5b0c6a7e-3f1d-5e8a-9b2c-7d4e1f6a8c30")


def derive_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def anomaly_id(rule: str, evidence: list[str]) -> str:
    """The same rule over the same records is the same anomaly, whenever and
    however often it is found (a duplicate, a crash and a replay)."""
    return derive_id(rule, *sorted(evidence))


def fingerprint(event: Event) -> str:
    """Content identity: an identical re-send under a new event id is a duplicate."""
    body = f"{event.avro_name}\n{event.model_dump_json()}".encode()
    return hashlib.sha256(body).hexdigest()[:24]


def entry_key(event: Event) -> str:
    # The fingerprint alone: it covers the record's kind and content, and state
    # holds one of these per record inside a window.
    return fingerprint(event)


def to_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Stay:
    """An admission; open from admitted_ms until its discharge (if known)."""

    admission_id: str
    hospital: str
    admitted_ms: int
    eid: str
    discharged_ms: int | None = None


@dataclass
class Birth:
    delivery_id: str
    hospital: str
    delivered_ms: int
    eid: str
    mother: str = ""


@dataclass
class Cert:
    number: str
    hospital: str
    issued_ms: int
    eid: str
    delivery_id: str
    mother: str = ""
    decided: bool = False  # rule 1: matched by a delivery, or raised


@dataclass
class Leave:
    discharge_id: str
    discharged_ms: int
    eid: str
    admission_id: str | None = None
    delivery_id: str | None = None  # a newborn's discharge


def _dump(entries: dict[str, Any]) -> dict[str, list[Any]]:
    # Each entry as its fields in declaration order, not a dict naming them:
    # state is held in memory and in the changelog for every record inside a
    # window, and the names were a third of it. (Not asdict(): it deep-copies,
    # and ran once per record stored.)
    return {k: list(vars(v).values()) for k, v in entries.items()}


def _load(kind: type[T], entries: dict[str, list[Any]]) -> dict[str, T]:
    return {k: kind(*v) for k, v in entries.items()}


@dataclass
class PersonState:
    """One person's records (keyed by id number) still inside some window."""

    key: str
    stays: dict[str, Stay] = field(default_factory=dict)
    births: dict[str, Birth] = field(default_factory=dict)
    certs: dict[str, Cert] = field(default_factory=dict)
    leaves: dict[str, Leave] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)  # anomaly id -> forget at (ms)

    def entries(self) -> list[dict[str, Any]]:
        return [self.stays, self.births, self.certs, self.leaves]

    def seen(self, eid: str, key: str) -> bool:
        return any(key in d or any(e.eid == eid for e in d.values()) for d in self.entries())

    def empty(self) -> bool:
        return not any(self.entries()) and not self.raised

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "stays": _dump(self.stays),
            "births": _dump(self.births),
            "certs": _dump(self.certs),
            "leaves": _dump(self.leaves),
            "raised": self.raised,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PersonState:
        return cls(
            d["key"],
            _load(Stay, d.get("stays", {})),
            _load(Birth, d.get("births", {})),
            _load(Cert, d.get("certs", {})),
            _load(Leave, d.get("leaves", {})),
            dict(d.get("raised", {})),
        )


@dataclass
class IndexState:
    """Everything seen for one delivery id ("delivery:<id>") or one certificate
    number ("certificate:<number>"), kept until the key's window closes."""

    key: str
    delivery: Birth | None = None
    delivery_key: str | None = None
    certs: dict[str, Cert] = field(default_factory=dict)
    leaves: dict[str, Leave] = field(default_factory=dict)
    raised: dict[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.key.split(":", 1)[0]

    def seen(self, eid: str, key: str) -> bool:
        if self.delivery is not None and (self.delivery.eid == eid or self.delivery_key == key):
            return True
        entries: list[dict[str, Any]] = [self.certs, self.leaves]
        return any(key in d or any(e.eid == eid for e in d.values()) for d in entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "delivery": list(vars(self.delivery).values()) if self.delivery else None,
            "delivery_key": self.delivery_key,
            "certs": _dump(self.certs),
            "leaves": _dump(self.leaves),
            "raised": self.raised,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> IndexState:
        return cls(
            d["key"],
            Birth(*d["delivery"]) if d.get("delivery") else None,
            d.get("delivery_key"),
            _load(Cert, d.get("certs", {})),
            _load(Leave, d.get("leaves", {})),
            dict(d.get("raised", {})),
        )
