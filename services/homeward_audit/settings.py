"""Audit sequencer settings, from HOMEWARD_AUDIT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.settings import MetricsPort


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_AUDIT_", extra="ignore")

    group_id: str = Field(
        default="homeward-audit",
        description="Consumer group (after HOMEWARD_TOPIC_PREFIX): one sequencer owns an "
        "input partition (and so the output partition of the same number) at a time",
    )
    session_timeout_seconds: float = Field(
        default=15.0,
        ge=6,
        le=300,
        description="How long the group waits for a silent sequencer before its partitions "
        "go to another (kafka-python's default, 45 s, held the chain that long after a "
        "SIGKILL); the same as the Faust workers'",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM, PKCS#8, unencrypted) that signs checkpoints; "
        "required to run the sequencer",
    )
    public_keys_file: Path | None = Field(
        default=None,
        description="PEM bundle of every public key whose checkpoints verify accepts "
        "(keep retired keys in it after a rotation)",
    )
    generate_key: bool = Field(
        default=False,
        description="Demo only: when signing_key_file does not exist, write a throwaway key "
        "there (and its public key to public_keys_file); never in production, where a "
        "lost key file must stop the service, not replace the key",
    )
    checkpoint_every: int = Field(
        default=100, ge=1, description="Sign a checkpoint after this many entries on a partition"
    )
    checkpoint_seconds: float = Field(
        default=5.0,
        gt=0,
        description="... or once this long has passed since a partition's last checkpoint "
        "with entries not yet covered (so an idle log ends on a signed head)",
    )
    tail_records: int = Field(
        default=2000,
        ge=1,
        description="Records of its output partition read back on assignment: the chain's "
        "head, and the entry ids already chained (more than one poll's worth of input)",
    )
    max_poll_records: int = Field(default=500, ge=1, le=10_000)
    source: str = Field(default="/homeward/audit", description="ce_source of what it writes")
    metrics_port: MetricsPort = 0

    @model_validator(mode="after")
    def _tail_covers_a_batch(self) -> AuditSettings:
        # What a crash can make it re-read is at most one uncommitted batch; ids
        # older than the tail read back would be chained a second time.
        if self.tail_records < self.max_poll_records:
            raise ValueError(
                f"tail_records ({self.tail_records}) must be at least max_poll_records "
                f"({self.max_poll_records}), or a re-read batch could be chained twice"
            )
        return self
