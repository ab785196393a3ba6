"""Fan-out settings, from HOMEWARD_FANOUT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.settings import MetricsPort


class FanoutSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_FANOUT_", extra="ignore")

    app_id: str = Field(default="homeward-fanout", description="Faust app id (consumer group)")
    # Required: falling back to the demo's fictional agencies in production would
    # deliver real alerts to no one.
    directory: Path = Field(description="Agency directory CSV")
    radius_schedule: str = Field(
        default="1:100,2:200,3:300,*:500",
        description="hours:km steps by time since last seen, then *:km beyond",
    )
    ack_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Resend an alert delivery not acknowledged by then"
    )
    max_resends: int = Field(default=1, ge=0, description="Resends before escalating")
    clock_speed: float = Field(
        default=1.0, gt=0, description="Demo only: compress time since last seen by this factor"
    )
    state_part_bytes: int = Field(
        default=512 * 1024,
        ge=4096,
        le=900_000,
        description="Largest case-state record (compressed); a larger state is stored in parts",
    )
    tick_interval_seconds: float = Field(default=5.0, gt=0, description="Timer period")
    source: str = Field(default="/homeward/fanout", description="ce_source of what it emits")
    metrics_port: MetricsPort = 0
