"""The gateway's own settings, from the environment (prefix HOMEWARD_GATEWAY_).

The Kafka connection is homeward.settings.KafkaSettings (HOMEWARD_KAFKA_*),
the token check homeward.auth.jwt_verifier.OidcVerifierSettings (HOMEWARD_OIDC_*),
as for every service.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """How the gateway runs. Each field is its own documentation."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_GATEWAY_", extra="ignore")

    host: str = Field(
        default="127.0.0.1", description="Interface to listen on; containers set 0.0.0.0."
    )
    port: int = Field(
        default=8090, ge=0, le=65535, description="TCP port; 0 picks a free one (tests)."
    )
    max_body_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request bodies above this are refused with 413 before they are parsed.",
    )
    send_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=120,
        description="How long to wait for Kafka's acknowledgement of a write before answering 503.",
    )
    startup_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long one attempt to connect and read the inbox topics may take.",
    )
    catch_up_seconds: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="How long a lookup that finds nothing waits for the inbox view to read "
        "the topics to their current end before answering 404 (0: never wait).",
    )
    page_size: int = Field(default=50, ge=1, le=200, description="A page's default length.")
    heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="A live stream sends a comment this often when nothing happens, so "
        "proxies keep it open and a client notices a dead connection.",
    )
    source_name: str = Field(
        default="gateway",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Last segment of the audit record's ce_source (/homeward/gateway/<name>).",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
