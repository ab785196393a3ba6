"""Staff log in with the OpenID Connect authorization code flow and PKCE (S256).

Authlib's Starlette client does the flow (state, nonce, the code verifier, the code
exchange, the ID token's signature, issuer, audience and nonce); the access token is then
verified with the gateway's own TokenVerifier, the same check every API call gets, and
the principal it yields is what the session holds.

The session is Starlette's signed cookie (itsdangerous). It keeps the principal, the
refresh token and the access token's expiry, not the tokens themselves: a cookie must stay
under 4 kB. When the access token would have expired, the next request refreshes it at the
provider and verifies the new one, so a disabled user or an ended provider session ends
the console session within one access-token lifetime. A case's timeline is read at intake
with a fresh access token got the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from homeward.agency_types import AgencyType
from homeward.auth import Principal, PrincipalKind
from homeward.auth.jwt_verifier import TokenVerifier
from homeward.errors import HomewardError
from homeward_gateway.console.settings import ConsoleSettings

log = logging.getLogger(__name__)

WHO = "who"
REFRESH = "refresh"
FRESH_UNTIL = "fresh_until"
CLIENT = "idp"


class LoginFailed(HomewardError):
    """The provider's answer could not be turned into a session."""


def principal_to_session(p: Principal) -> dict[str, Any]:
    return {
        "sub": p.subject,
        "name": p.name,
        "kind": p.kind.value,
        "agency": p.agency_id,
        "type": p.agency_type.value,
        "roles": sorted(p.roles),
        "client": p.client_id,
        "iss": p.issuer,
    }


def principal_from_session(d: dict[str, Any]) -> Principal:
    return Principal(
        subject=str(d["sub"]),
        name=str(d["name"]),
        kind=PrincipalKind(d["kind"]),
        agency_id=str(d["agency"]),
        agency_type=AgencyType(d["type"]),
        roles=frozenset(str(r) for r in d["roles"]),
        client_id=str(d.get("client", "")),
        issuer=str(d.get("iss", "")),
    )


@dataclass(frozen=True)
class Fresh:
    principal: Principal
    access_token: str


class Login:
    def __init__(self, settings: ConsoleSettings, verifier: TokenVerifier, issuer: str) -> None:
        self.settings = settings
        self.verifier = verifier
        self.issuer = issuer.rstrip("/")
        secret = settings.client_secret.get_secret_value() or None
        self.oauth = OAuth()
        self.oauth.register(
            CLIENT,
            client_id=settings.client_id,
            client_secret=secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": "openid",
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
            },
        )

    @property
    def client(self) -> Any:
        return self.oauth.create_client(CLIENT)

    async def start(self, request: Request, redirect_uri: str) -> Any:
        """The redirect to the provider's login page (state, nonce and PKCE kept in the session)."""
        return await self.client.authorize_redirect(request, redirect_uri)

    async def finish(self, request: Request) -> Principal:
        """The code exchange; the session now holds the principal. LoginFailed otherwise."""
        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            raise LoginFailed(
                f"the provider refused the login: {exc.error}", field="code"
            ) from None
        principal = await self._accept(request.session, token)
        log.info("console login: %s (%s)", principal.name, principal.agency_id)
        return principal

    async def _accept(self, session: MutableMapping[str, Any], token: dict[str, Any]) -> Principal:
        access = token.get("access_token")
        if not isinstance(access, str):
            raise LoginFailed("the provider sent no access token", field="access_token")
        # The verifier may fetch the provider's keys (blocking httpx): off the event loop.
        principal: Principal = await run_in_threadpool(self.verifier.verify, access)
        if principal.kind is not PrincipalKind.PERSON:
            raise LoginFailed("the console is for persons, not systems", field="azp")
        session[WHO] = principal_to_session(principal)
        session[REFRESH] = token.get("refresh_token") or ""
        session[FRESH_UNTIL] = float(token.get("expires_at") or time.time() + 60)
        return principal

    async def current(self, session: MutableMapping[str, Any]) -> Principal | None:
        """The logged-in principal, refreshed at the provider when its token would have
        expired; None (and the session emptied) when there is none or it has ended."""
        who = session.get(WHO)
        if not isinstance(who, dict):
            return None
        if time.time() < float(session.get(FRESH_UNTIL, 0)):
            try:
                return principal_from_session(who)
            except (KeyError, ValueError):
                session.clear()
                return None
        fresh = await self.fresh(session)
        return fresh.principal if fresh else None

    async def fresh(self, session: MutableMapping[str, Any]) -> Fresh | None:
        """A new access token by the refresh token (verified, the session updated)."""
        refresh = session.get(REFRESH)
        if not refresh:
            session.clear()
            return None
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        try:
            body = await self._token_request(form)
            principal = await self._accept(session, body)
        except (HomewardError, httpx.HTTPError, ValueError) as exc:
            log.info("console session ended: %s", exc)
            session.clear()
            return None
        return Fresh(principal, str(body["access_token"]))

    async def logout(self, session: MutableMapping[str, Any]) -> None:
        """Revoke the refresh token at the provider (RFC 7009), which ends its session too."""
        refresh = session.get(REFRESH)
        session.clear()
        if not refresh:
            return
        try:
            metadata = await self.client.load_server_metadata()
            endpoint = metadata.get("revocation_endpoint")
            if endpoint:
                async with httpx.AsyncClient(timeout=10) as http:
                    await http.post(
                        endpoint,
                        data={
                            "token": refresh,
                            "token_type_hint": "refresh_token",
                            **self._client_form(),
                        },
                    )
        except (httpx.HTTPError, ValueError) as exc:  # the local session is gone either way
            log.warning("could not revoke the console session at the provider: %s", exc)

    def _client_form(self) -> dict[str, str]:
        form = {"client_id": self.settings.client_id}
        secret = self.settings.client_secret.get_secret_value()
        if secret:
            form["client_secret"] = secret
        return form

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        metadata = await self.client.load_server_metadata()
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(metadata["token_endpoint"], data={**form, **self._client_form()})
        body: dict[str, Any] = resp.json()
        if resp.status_code != 200 or "access_token" not in body:
            raise LoginFailed(
                f"refresh refused: {body.get('error', resp.status_code)}", field="refresh"
            )
        if "expires_in" in body:
            body["expires_at"] = time.time() + float(body["expires_in"])
        return body
