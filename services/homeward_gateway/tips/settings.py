"""The tip line's settings, from HOMEWARD_GATEWAY_TIPS_* environment variables."""

from __future__ import annotations

from datetime import timedelta

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_GATEWAY_TIPS_", extra="ignore")

    per_client: str = Field(
        default="5/minute",
        description="Tips one client (network address) may send, as `limits` notation "
        "('5/minute', '20 per hour')",
    )
    global_limit: str = Field(
        default="120/minute", description="Tips the whole line (this instance) takes"
    )
    max_body_bytes: int = Field(
        default=4096, ge=512, le=65536, description="A tip's body above this is refused (413)"
    )
    clock_skew_seconds: float = Field(
        default=300, ge=0, le=3600, description="How far in the future seen_at may be"
    )
    form_token_ttl_seconds: float = Field(
        default=3600, gt=0, description="How long a rendered form may be submitted"
    )
    sync_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="How long to wait for the alert log before saying a case takes no tips",
    )
    language: str = Field(default="zh-CN", description="The form's default language")
    form_timezone: str = Field(
        default="Asia/Shanghai",
        description="The zone of the form's date and time field (a browser sends it without one)",
    )

    @field_validator("per_client", "global_limit")
    @classmethod
    def _limit(cls, value: str) -> str:
        parse(value)  # ValueError names what is wrong
        return value

    @property
    def clock_skew(self) -> timedelta:
        return timedelta(seconds=self.clock_skew_seconds)
