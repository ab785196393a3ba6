"""Referral router settings, from HOMEWARD_REFERRALS_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.durations import parse_duration
from homeward.settings import MetricsPort
from homeward_referrals.rules import parse_overrides


class ReferralSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_REFERRALS_", extra="ignore")

    app_id: str = Field(default="homeward-referrals", description="Faust app id (consumer group)")
    # Required: the demo's fictional agencies in production would refer real
    # victims to no one.
    directory: Path = Field(description="Agency directory CSV")
    rules: Path | None = Field(
        default=None, description="Routing rules YAML; default topology/referrals.yaml"
    )
    max_km: float = Field(default=200.0, gt=0, description="Reach: farthest agency asked")
    deadlines: str = Field(
        default="",
        description="Per-rule deadline overrides: 'legal_aid=PT1H/P2D,schooling=/P10D'",
    )
    report_ack_within: str = Field(
        default="PT1H", description="ISO 8601 duration police have to acknowledge a report"
    )
    tip_ack_within: str = Field(
        default="PT30M", description="ISO 8601 duration police have to acknowledge a public tip"
    )
    tick_interval_seconds: float = Field(default=5.0, gt=0, description="Timer period")
    source: str = Field(default="/homeward/referrals", description="ce_source of what it emits")
    metrics_port: MetricsPort = 0

    @field_validator("deadlines")
    @classmethod
    def _deadlines(cls, value: str) -> str:
        parse_overrides(value)  # syntax here; unknown rule ids when the rules load
        return value

    @field_validator("report_ack_within", "tip_ack_within")
    @classmethod
    def _ack_within(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @property
    def report_ack(self) -> timedelta:
        return parse_duration(self.report_ack_within)

    @property
    def tip_ack(self) -> timedelta:
        return parse_duration(self.tip_ack_within)
