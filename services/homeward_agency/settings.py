"""The agency subscriber's settings, from the environment (prefix
HOMEWARD_AGENCY_); command-line options override them. Kafka connection
settings are the shared KafkaSettings (HOMEWARD_KAFKA_*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from homeward.agencies import AgencyType
from homeward.settings import ServiceSettings
from homeward_agency.dedup import DEFAULT_CAPACITY


class AgencySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_AGENCY_", extra="ignore")

    agency_id: str | None = Field(
        default=None, description="This agency's id in the directory (--agency-id)."
    )
    agency_type: AgencyType | None = Field(
        default=None, description="This agency's type; picks the inbox (--agency-type)."
    )
    principal: str | None = Field(
        default=None,
        description="The principal its acks and answers name as their actor "
        "(--principal); default its Kafka user, else agency:<agency_id>.",
    )
    group_id: str | None = Field(
        default=None,
        description="Consumer group for committed offsets; default homeward-agency-<agency_id>.",
    )
    forward_url: str | None = Field(
        default=None, description="POST each delivery as JSON here; acknowledge only on a 2xx."
    )
    forward_attempts: int = Field(default=3, ge=1, le=20, description="Tries per delivery.")
    forward_backoff_seconds: float = Field(
        default=0.5, ge=0, description="Wait before the 2nd try; doubled before each next one."
    )
    forward_timeout_seconds: float = Field(default=5.0, gt=0, description="Per HTTP request.")
    json_output: bool = Field(
        default=False, description="Print JSON lines instead of readable lines (--json)."
    )
    ack: bool = Field(default=True, description="Acknowledge deliveries (--no-ack turns off).")
    state_dir: Path | None = Field(
        default=None,
        description="Keep the dedup keys of what was handled here, so a restart after a "
        "kill acts on nothing twice (homeward_agency.journal); unset: memory only.",
    )
    seen_capacity: int = Field(
        default=DEFAULT_CAPACITY, ge=1, description="Delivery ids remembered for de-duplication."
    )
    poll_timeout_seconds: float = Field(default=0.5, gt=0, description="Longest wait per poll.")
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz (--metrics-port); 0 = none.",
    )
