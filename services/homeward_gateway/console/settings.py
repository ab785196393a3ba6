"""The console's settings, prefix HOMEWARD_CONSOLE_ (the gateway's own are HOMEWARD_GATEWAY_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOMEWARD_CONSOLE_", extra="ignore")

    enabled: bool = Field(default=True, description="Serve the console under /console")
    issuer: str = Field(
        default="", description="The OIDC provider staff log in at (default: HOMEWARD_OIDC_ISSUER)"
    )
    client_id: str = Field(default="homeward-console", description="The console's OIDC client")
    client_secret: SecretStr = Field(
        default=SecretStr(""), description="Its secret, for a confidential client (PKCE either way)"
    )
    session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs the session cookie; the same on every gateway instance. Empty: a "
        "random one per process (sessions end at a restart and do not span instances)",
    )
    session_max_age_seconds: int = Field(default=8 * 3600, ge=300, le=7 * 24 * 3600)
    secure_cookies: bool = Field(
        default=True,
        description="Mark cookies Secure. Keep it on: browsers treat http://127.0.0.1 and "
        "http://localhost as secure contexts, so even a plain-http test on this machine works",
    )
    public_url: str = Field(
        default="",
        description="The console's external base URL (behind a proxy), for the OIDC redirect; "
        "default: from the request",
    )
    intake_url: str = Field(
        default="",
        description="Intake's base URL: a case's timeline is read there with the user's token",
    )
    live_poll_seconds: float = Field(default=15.0, gt=0, le=60, description="SSE keep-alive")
