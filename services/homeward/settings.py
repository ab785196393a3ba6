"""Settings shared by every service, from the environment (prefix HOMEWARD_).

Each setting documents itself; services subclass ServiceSettings with a
prefix of their own (HOMEWARD_<SERVICE>_).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every Faust worker's probe and metrics port, declared once.
MetricsPort = Annotated[
    int,
    Field(
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz and /readyz (conventionally 9101 fan-out, "
        "9102 referrals, 9103 detector); 0 = none",
    ),
]


class KafkaSettings(BaseSettings):
    """How to reach Kafka. Secrets are SecretStr so they never print."""

    model_config = SettingsConfigDict(
        env_prefix="HOMEWARD_KAFKA_", extra="ignore", populate_by_name=True
    )

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "HOMEWARD_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="Comma-separated host:port list; KAFKA_BOOTSTRAP_SERVERS is read too.",
    )
    security_protocol: str = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: str | None = Field(default=None, description="e.g. SCRAM-SHA-512")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = Field(default=None, description="CA bundle for SSL / SASL_SSL")
    linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="How long a stream processor's producer waits to fill a batch: a "
        "few ms turn a batch of records' output into a few requests instead of one each",
    )
    topic_prefix: str = Field(
        default="",
        validation_alias=AliasChoices("HOMEWARD_TOPIC_PREFIX", "HOMEWARD_KAFKA_TOPIC_PREFIX"),
        description="Prepended to every topic name, so several systems (or tests) share a cluster.",
    )

    def kafka_python(self) -> dict[str, Any]:
        """Connection options in kafka-python's spelling."""
        opts: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            opts["sasl_mechanism"] = self.sasl_mechanism
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            opts["ssl_cafile"] = self.ssl_cafile
        return opts

    def faust_broker(self) -> str:
        return ";".join(f"kafka://{h}" for h in self.bootstrap_servers.split(","))


class ServiceSettings(BaseSettings):
    """What every service has: its log level."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", extra="ignore")

    log_level: str = Field(default="INFO")
