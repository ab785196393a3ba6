"""The webhook dispatcher's settings (environment prefix HOMEWARD_GATEWAY_WEBHOOKS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from homeward.errors import ConfigError
from homeward.settings import ServiceSettings

GROUP = "homeward-gateway-webhooks"


class WebhookSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_GATEWAY_WEBHOOKS_", extra="ignore")

    enabled: bool = Field(default=True, description="Run the dispatcher in the gateway process.")
    registry_file: Path | None = Field(
        default=None,
        description="The endpoint registry (agency id -> url, secret refs, events); none: no "
        "agency takes webhooks and the dispatcher does not run. topology/webhooks.yaml is the "
        "demo directory's.",
    )
    require_https: bool = Field(
        default=False, description="Refuse http:// endpoints (set it outside a demo)."
    )
    group_id: str = Field(
        default=GROUP, description="Consumer group (under the topic prefix) of the dispatcher."
    )
    max_attempts: int = Field(
        default=6, ge=1, le=1000, description="Tries per delivery before it is dead-lettered."
    )
    backoff_base_seconds: float = Field(
        default=1.0, gt=0, description="Ceiling of the first backoff (full jitter under it)."
    )
    backoff_cap_seconds: float = Field(
        default=60.0, gt=0, description="No wait between tries is longer (Retry-After included)."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per HTTP request.")
    max_in_flight: int = Field(
        default=10_000,
        ge=1,
        description="Deliveries read but not settled; reading pauses above it.",
    )
    commit_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often settled offsets are committed."
    )
    shard_count: int = Field(
        default=1,
        ge=1,
        description="Gateway replicas sharing the webhook work: each takes every "
        "shard_count-th inbox partition.",
    )
    shard_index: int = Field(
        default=0, ge=0, description="This replica's share, 0 to shard_count - 1."
    )
    poll_timeout_seconds: float = Field(default=0.5, gt=0, description="Longest wait per poll.")

    @model_validator(mode="after")
    def _shard_in_range(self) -> WebhookSettings:
        if self.shard_index >= self.shard_count:
            raise ValueError(
                f"shard_index {self.shard_index} must be below shard_count {self.shard_count}"
            )
        return self

    def registry_path(self) -> Path:
        if self.registry_file is None:
            raise ConfigError(
                "no endpoint registry is configured",
                field="HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE",
            )
        return self.registry_file
