"""Who the demo's callers are: every system and person logs in to the OpenID Connect
provider, and intake checks each call's token.

The provider is the project's own Keycloak (homeward.idp), started by the demo, or the one
$HOMEWARD_OIDC_ISSUER names (it must serve the Homeward realm,
deploy/keycloak/homeward-realm.json). The realm's credentials are plainly fake: a system's
secret is in the realm file, a person's password is ``homeward.idp.realm.password_of``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeward.auth.oidc_client import ClientCredentials, PasswordLogin
from homeward.idp import KeycloakServer, realm_file
from homeward.idp.realm import CONSOLE_CLIENT, password_of, staff_username

#: The police system that issues the demo's alert and reports the rescues: POL-0001, with
#: police_officer and police_supervisor (a supervisor may release a public summary).
POLICE_SYSTEM = "police-case-system"
POLICE_AGENCY = "POL-0001"


def external_issuer() -> str:
    """$HOMEWARD_OIDC_ISSUER without a trailing slash, or "" (start our own Keycloak)."""
    return os.environ.get("HOMEWARD_OIDC_ISSUER", "").strip().rstrip("/")


def realm_secrets(path: Path | None = None) -> dict[str, str]:
    """client id -> secret, for every confidential client of the realm file."""
    path = path or realm_file()
    try:
        realm: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"realm file {path}: unreadable: {exc}") from exc
    return {c["clientId"]: c["secret"] for c in realm.get("clients", []) if c.get("secret")}


def issuer_or_keycloak(stack: ExitStack, run_dir: Path, say: Callable[[str], None] = print) -> str:
    """$HOMEWARD_OIDC_ISSUER, or the embedded Keycloak started (and stopped with
    `stack`) under run_dir/keycloak, once it answers."""
    issuer = external_issuer()
    if issuer:
        return issuer
    say("starting Keycloak ...")
    keycloak = spawn_keycloak(run_dir / "keycloak")
    stack.callback(keycloak.stop)
    keycloak.wait_ready()
    return keycloak.issuer


def spawn_keycloak(run_dir: Path) -> KeycloakServer:
    """Start the embedded Keycloak without waiting (its ~12 s start overlaps the broker's)."""
    server = KeycloakServer(run_dir=run_dir)
    server.spawn()
    return server


@dataclass(frozen=True)
class Identities:
    """Token providers for the realm's systems (client credentials) and persons (password)."""

    issuer: str
    secrets: dict[str, str]

    def system(self, client_id: str) -> ClientCredentials:
        if client_id not in self.secrets:
            raise KeyError(f"client_id: {client_id!r} has no secret in the realm file")
        return ClientCredentials(self.issuer, client_id, self.secrets[client_id])

    def person(self, agency_id: str) -> PasswordLogin:
        """The staff member of an agency (``staff-<agency id lowercased>``) on the console."""
        username = staff_username(agency_id)
        return PasswordLogin(self.issuer, CONSOLE_CLIENT, username, password_of(username))

    def police(self) -> ClientCredentials:
        return self.system(POLICE_SYSTEM)
