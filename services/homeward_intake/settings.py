"""Intake's own settings, from the environment (prefix HOMEWARD_INTAKE_).

The Kafka connection is not repeated here: it is homeward.settings.KafkaSettings,
shared by every service, so one set of HOMEWARD_KAFKA_* variables serves them all.
"""

from __future__ import annotations

import re
import socket

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_source_name() -> str:
    # One intake instance per pod: the host name tells operators which one
    # accepted a request. Kept to the characters a URI path segment allows.
    return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "intake"


class IntakeSettings(BaseSettings):
    """How the intake HTTP service runs. Each field is its own documentation."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_INTAKE_", extra="ignore")

    host: str = Field(
        default="127.0.0.1",
        description="Interface to listen on; containers set 0.0.0.0.",
    )
    port: int = Field(
        default=8080, ge=0, le=65535, description="TCP port; 0 picks a free one (tests)."
    )
    source_name: str = Field(
        default_factory=_default_source_name,
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Last segment of ce_source (/homeward/intake/<source_name>); "
        "defaults to the host name, i.e. the instance.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request bodies above this are refused with 413 before they are parsed.",
    )
    publish_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=120,
        description="How long to wait for Kafka's acknowledgement before answering 503. "
        "Below the client's default 10 s timeout, so the client sees a 503, not a hang.",
    )
    worker_threads: int = Field(
        default=128,
        ge=1,
        le=1024,
        description="Requests handled at once (the thread pool the routes run on; "
        "anyio's default is 40). A request spends most of its time waiting for "
        "Kafka's acknowledgements, so more in flight is more throughput.",
    )
    startup_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long one attempt to connect and read the idempotency log may take.",
    )
    idempotency_ttl_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long an Idempotency-Key is remembered (the intake_requests retention).",
    )
    sync_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long a request with an unseen key waits for this instance to catch up "
        "with the idempotency log, so a retry sent to another instance is still recognised.",
    )
    timeline_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        le=120,
        description="How long a timeline query may take to read the case's partitions "
        "before answering 503.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
