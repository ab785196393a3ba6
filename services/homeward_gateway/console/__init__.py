"""The agency console: the web pages the gateway serves under /console for agency staff
with a browser (docs/console.md). `mount(app, gateway, settings)` adds it to the gateway's
app; it logs staff in at the OIDC provider and acts through the gateway's facade."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from homeward.auth.jwt_verifier import TokenVerifier
from homeward.errors import ConfigError
from homeward_gateway.console.login import Login
from homeward_gateway.console.pages import PREFIX, Console
from homeward_gateway.console.settings import ConsoleSettings
from homeward_gateway.service import Gateway

log = logging.getLogger(__name__)

__all__ = ["PREFIX", "mount"]


def mount(
    app: FastAPI, gateway: Gateway, settings: Any, console: ConsoleSettings | None = None
) -> None:
    """Serve the console at /console on `app` (the gateway's), with its token verifier."""
    console = console or ConsoleSettings()
    if not console.enabled:
        return
    verifier: TokenVerifier = app.state.verifier
    issuer = console.issuer or verifier.issuer
    if not issuer:
        raise ConfigError("the console needs an OIDC issuer", field="HOMEWARD_CONSOLE_ISSUER")
    pages = Console(gateway, console, Login(console, verifier, issuer), issuer)
    app.mount(PREFIX, pages.app(), name="console")
    log.info("console at %s (login at %s, client %s)", PREFIX, issuer, console.client_id)
