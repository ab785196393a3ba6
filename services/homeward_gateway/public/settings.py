"""The CAP feed's settings (environment, prefix HOMEWARD_GATEWAY_CAP_)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward_gateway.public.cap import Texts


class CapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_GATEWAY_CAP_", extra="ignore")

    # CAP <sender>: one identifier for the site, no spaces, commas, < or &.
    sender: str = Field(default="homeward@example.invalid", pattern=r"^[^\s,<&]+$")
    sender_name_zh: str = "Homeward 寻人协作平台"
    sender_name_en: str = "Homeward search network"
    # The public contact line: a switchboard, never a person.
    contact_zh: str = "报警电话 110"
    contact_en: str = "Police: dial 110"
    # The zone CAP times are written in (UTC is written -00:00).
    timezone: str = "Asia/Shanghai"
    feed_title: str = "Homeward 儿童失踪公开警报 / Missing-child public alerts (CAP 1.2)"
    feed_id: str = "urn:homeward:cap"
    # The feed's public URL prefix (https://…/public/cap): each message's <web>
    # links to itself under it. Unset, messages carry no <web>.
    base_url: str | None = None
    # XML-DSig: a PEM private key and its PEM certificate; both set, every
    # message carries an enveloped signature (sign.py). Unset, none.
    signing_key_file: Path | None = None
    signing_cert_file: Path | None = None
    # How many messages the Atom index lists (newest first).
    index_limit: int = Field(default=200, ge=1, le=5000)

    @model_validator(mode="after")
    def _both_or_neither(self) -> CapSettings:
        if (self.signing_key_file is None) != (self.signing_cert_file is None):
            raise ValueError(
                "HOMEWARD_GATEWAY_CAP_SIGNING_KEY_FILE and _SIGNING_CERT_FILE go together"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def texts(self) -> Texts:
        return Texts(
            sender=self.sender,
            sender_name_zh=self.sender_name_zh,
            sender_name_en=self.sender_name_en,
            contact_zh=self.contact_zh,
            contact_en=self.contact_en,
        )
