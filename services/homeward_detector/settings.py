"""Detector settings, from HOMEWARD_DETECTOR_* environment variables. Every
window and threshold of the rules is one of them (docs/architecture.md)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.durations import parse_duration
from homeward.settings import MetricsPort
from homeward_detector.planner import Windows

_DURATIONS = (
    "certificate_window",
    "lateness",
    "overlap_tolerance",
    "max_stay",
    "number_window",
    "uncertified_after",
)

_MAY_BE_ZERO = ("lateness", "overlap_tolerance")


class DetectorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_DETECTOR_", extra="ignore")

    app_id: str = Field(default="homeward-detector", description="Faust app id (consumer group)")
    certificate_window: str = Field(
        default="P30D",
        description="Rule 1: a certificate needs a delivery of the same mother at the same "
        "hospital within this long before it",
    )
    lateness: str = Field(
        default="PT6H",
        description="How long records may arrive late: a 'missing' rule waits this long",
    )
    overlap_tolerance: str = Field(
        default="PT0S",
        description="Rule 4: stays at two hospitals overlapping by no more than this pass "
        "(a transfer); PT0S: none",
    )
    max_stay: str = Field(
        default="P90D",
        description="An admission with no discharge is forgotten this long after it began",
    )
    number_window: str = Field(
        default="P90D",
        description="Rule 3: how long a certificate number is remembered to catch its reuse",
    )
    uncertified_discharge_enabled: bool = Field(
        default=False, description="Rule 5 on (off by default: see docs/architecture.md)"
    )
    uncertified_after: str = Field(
        default="P3D", description="Rule 5: a delivery's certificate is due this long after it"
    )
    tick_interval_seconds: float = Field(default=5.0, gt=0, description="Timer period")
    source: str = Field(default="/homeward/detector", description="ce_source of what it emits")
    metrics_port: MetricsPort = 0

    @field_validator(*_DURATIONS)
    @classmethod
    def _duration(cls, value: str, info: ValidationInfo) -> str:
        length = parse_duration(value)
        if length < timedelta(0) or (
            length == timedelta(0) and info.field_name not in _MAY_BE_ZERO
        ):
            raise ValueError("must be longer than zero")
        return value

    def windows(self) -> Windows:
        return Windows(
            certificate=parse_duration(self.certificate_window),
            lateness=parse_duration(self.lateness),
            overlap_tolerance=parse_duration(self.overlap_tolerance),
            max_stay=parse_duration(self.max_stay),
            number=parse_duration(self.number_window),
            uncertified_enabled=self.uncertified_discharge_enabled,
            uncertified_after=parse_duration(self.uncertified_after),
        )
