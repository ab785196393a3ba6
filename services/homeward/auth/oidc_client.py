"""Token providers for an OpenID Connect provider (the embedded Keycloak or a site's own).

``ClientCredentials`` is a system's identity (the OAuth 2.0 client-credentials grant);
``PasswordLogin`` a person's (the resource-owner password grant, then the refresh token). Both
find the token endpoint in the issuer's discovery document, cache the token and fetch a new one
``refresh_margin`` seconds before it expires; one lock per provider, so threads share a token.
``token_provider_from_env()`` builds a ``ClientCredentials`` from ``HOMEWARD_OIDC_*``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.errors import HomewardError

DEFAULT_REFRESH_MARGIN_SECONDS = 30.0
# A provider's first token request after a start can take seconds on a loaded machine (a cold
# JVM); a request timeout is a failure the caller sees, so it is generous.
DEFAULT_TIMEOUT_SECONDS = 30.0


class TokenError(HomewardError):
    """No token could be had: the provider refused the credentials or did not answer."""


class OidcSettings(BaseSettings):
    """A system's OIDC identity, from the environment."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_OIDC_", extra="ignore")

    issuer: str = Field(default="", description="The provider's issuer URL (its `iss`)")
    client_id: str = Field(default="", description="This system's client id")
    client_secret: SecretStr = Field(default=SecretStr(""), description="Its client secret")
    audience: str | None = Field(default=None, description="`audience` form parameter, if any")
    scope: str | None = Field(default=None, description="`scope` form parameter, if any")


def token_provider_from_env() -> ClientCredentials | None:
    """The client-credentials provider ``HOMEWARD_OIDC_{ISSUER,CLIENT_ID,CLIENT_SECRET}``
    configure, or None when ``HOMEWARD_OIDC_ISSUER`` is unset (no authentication)."""
    settings = OidcSettings()
    if not settings.issuer:
        return None
    if not settings.client_id:
        raise TokenError(
            "required when HOMEWARD_OIDC_ISSUER is set", field="HOMEWARD_OIDC_CLIENT_ID"
        )
    if not settings.client_secret.get_secret_value():
        raise TokenError(
            "required when HOMEWARD_OIDC_ISSUER is set", field="HOMEWARD_OIDC_CLIENT_SECRET"
        )
    return ClientCredentials(
        settings.issuer,
        settings.client_id,
        settings.client_secret,
        audience=settings.audience,
        scope=settings.scope,
    )


class _CachedToken:
    """Fetch, cache, refresh ``margin`` s before expiry. Subclasses say how to fetch."""

    def __init__(
        self,
        issuer: str,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.refresh_margin = refresh_margin
        self._http = http or httpx.Client(timeout=DEFAULT_TIMEOUT_SECONDS)
        self._clock = clock
        self._lock = threading.Lock()
        self._token_endpoint: str | None = None
        self._access: str | None = None
        self._expires_at = 0.0  # on self._clock
        self.fetches = 0  # how many token requests were made (observability, tests)

    def token(self) -> str:
        with self._lock:
            if self._access is None or self._clock() >= self._expires_at - self._margin():
                self._store(self._fetch())
            assert self._access is not None
            return self._access

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after a 401 from a resource server)."""
        with self._lock:
            self._access = None

    @property
    def token_endpoint(self) -> str:
        if self._token_endpoint is None:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                resp = self._http.get(url)
                resp.raise_for_status()
                endpoint = resp.json()["token_endpoint"]
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise TokenError(
                    f"no token_endpoint from {url}: {type(exc).__name__}: {exc}", field="issuer"
                ) from exc
            self._token_endpoint = str(endpoint)
        return self._token_endpoint

    def _margin(self) -> float:
        # A token shorter-lived than twice the margin is refreshed at half its life instead.
        return min(self.refresh_margin, self._lifetime / 2)

    _lifetime = 0.0

    def _store(self, body: dict[str, Any]) -> None:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise TokenError("the token response has no access_token", field="access_token")
        try:
            lifetime = float(body.get("expires_in", 60))
        except (TypeError, ValueError):
            raise TokenError(
                f"not a number: {body.get('expires_in')!r}", field="expires_in"
            ) from None
        self._access = access
        self._lifetime = lifetime
        self._expires_at = self._clock() + lifetime
        self._on_token(body)

    def _on_token(self, body: dict[str, Any]) -> None:
        """Hook: a subclass keeps what else the response carries (a refresh token)."""

    def _post(self, form: dict[str, str], *, credential_field: str) -> dict[str, Any]:
        self.fetches += 1
        try:
            resp = self._http.post(self.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise TokenError(
                f"token endpoint {self.token_endpoint} did not answer: {exc}", field="issuer"
            ) from exc
        try:
            body: dict[str, Any] = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200:
            error = body.get("error", f"HTTP {resp.status_code}")
            detail = body.get("error_description", "")
            raise TokenError(
                f"the provider refused the token request ({error}"
                + (f": {detail}" if detail else "")
                + ")",
                field=credential_field if error in _CREDENTIAL_ERRORS else "token request",
            )
        return body

    def _fetch(self) -> dict[str, Any]:
        raise NotImplementedError


# invalid_client: unknown, wrong secret, disabled client; invalid_grant: wrong password,
# disabled user, expired refresh token; unauthorized_client: that grant is not enabled.
_CREDENTIAL_ERRORS = ("invalid_client", "unauthorized_client", "invalid_grant")


class ClientCredentials(_CachedToken):
    """A system's access token by the client-credentials grant (RFC 6749 4.4)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        audience: str | None = None,
        scope: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(issuer, refresh_margin=refresh_margin, http=http, clock=clock)
        self.client_id = client_id
        self._secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self.audience = audience
        self.scope = scope

    def _fetch(self) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.get_secret_value(),
        }
        if self.audience:
            form["audience"] = self.audience
        if self.scope:
            form["scope"] = self.scope
        return self._post(form, credential_field="client_secret")

    def __repr__(self) -> str:
        return f"ClientCredentials(issuer={self.issuer!r}, client_id={self.client_id!r})"


class PasswordLogin(_CachedToken):
    """A person's access token: the password grant once, then the refresh token while the
    provider gives one (falling back to the password when the refresh is refused)."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        username: str,
        password: str | SecretStr,
        *,
        client_secret: str | SecretStr | None = None,
        scope: str | None = "openid",
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(issuer, refresh_margin=refresh_margin, http=http, clock=clock)
        self.client_id = client_id
        self.username = username
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)
        self._client_secret = (
            None
            if client_secret is None
            else client_secret
            if isinstance(client_secret, SecretStr)
            else SecretStr(client_secret)
        )
        self.scope = scope
        self._refresh: str | None = None
        self.refreshes = 0

    def _client_form(self) -> dict[str, str]:
        form = {"client_id": self.client_id}
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret.get_secret_value()
        return form

    def _fetch(self) -> dict[str, Any]:
        if self._refresh is not None:
            form = {**self._client_form(), "grant_type": "refresh_token"}
            form["refresh_token"] = self._refresh
            self._refresh = None
            try:
                body = self._post(form, credential_field="refresh_token")
                self.refreshes += 1
                return body
            except TokenError:
                pass  # an expired or revoked session: log in again with the password
        form = {**self._client_form(), "grant_type": "password", "username": self.username}
        form["password"] = self._password.get_secret_value()
        if self.scope:
            form["scope"] = self.scope
        return self._post(form, credential_field="password")

    def _on_token(self, body: dict[str, Any]) -> None:
        refresh = body.get("refresh_token")
        self._refresh = refresh if isinstance(refresh, str) and refresh else None

    def __repr__(self) -> str:
        return f"PasswordLogin(issuer={self.issuer!r}, username={self.username!r})"
