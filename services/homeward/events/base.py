"""What every event model shares: its Avro name, its CloudEvents type, and
conversion to and from the plain dicts fastavro reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Classification(StrEnum):
    """Who may see an event; carried in the `ce_classification` header."""

    PUBLIC = "public"
    RESTRICTED = "restricted"
    POLICE_ONLY = "police-only"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    """A pydantic model at the edge: strict shapes, clear errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        return aware(value) if isinstance(value, datetime) else value


class Event(Model):
    """An event with an Avro schema of the same full name in schemas/avro/."""

    avro_name: ClassVar[str]
    classification: ClassVar[Classification] = Classification.RESTRICTED

    case_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")

    @classmethod
    def ce_type(cls) -> str:
        return cls.avro_name

    def data_classification(self) -> Classification:
        """The ce_classification this instance travels with (its class's, unless it wraps one)."""
        return self.classification

    def to_avro(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    @classmethod
    def from_avro(cls, datum: dict[str, Any]) -> Self:
        return cls.model_validate(datum)


def aware(value: datetime) -> datetime:
    """Naive datetimes are ambiguous on a bus that spans agencies: refuse them."""
    if value.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. 2026-01-01T08:00:00+08:00)")
    # The wire carries milliseconds; holding the same keeps round trips exact.
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)
