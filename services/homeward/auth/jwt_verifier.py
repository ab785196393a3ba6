"""Bearer tokens (OAuth 2.0, RFC 6750) from any OpenID Connect provider,
verified and mapped to a Principal.

PyJWT does the cryptography and the registered claims; its PyJWKClient
fetches the provider's JWKS (from the discovery document), caches it and
fetches it again when a token names a key id it does not hold, so a key
rotation at the provider needs nothing here. Only asymmetric algorithms are
accepted: `none` and HMAC (which would let a public key sign) never are.

Claim names are settings, so a provider that puts roles under
`realm_access.roles` or the agency under another name works by
configuration alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from homeward.agency_types import AgencyType
from homeward.auth.principal import Principal, PrincipalKind
from homeward.errors import ConfigError, HomewardError

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


class Unauthenticated(HomewardError):
    """No usable bearer token (HTTP 401); `field` names the header or the claim."""


class OidcVerifierSettings(BaseSettings):
    """How intake (and any later entry point) checks tokens. Prefix HOMEWARD_OIDC_."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_OIDC_", extra="ignore")

    issuer: str = Field(default="", description="The provider's issuer URL (the `iss` claim)")
    audience: str = Field(default="homeward", description="Must be in the token's `aud`")
    jwks_url: str = Field(default="", description="Overrides the discovery document's jwks_uri")
    agency_claim: str = Field(default="agency_id", description="Dotted path to the agency id")
    agency_type_claim: str = Field(default="agency_type", description="Dotted path to its type")
    roles_claim: str = Field(default="roles", description="Dotted path to the list of roles")
    leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed")


def claim(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class JwksKeys:
    """The issuer's signing keys by kid: fetched once, fetched again when a token
    names a kid not held (the provider rotated), at most every `min_refetch`
    seconds so a flood of made-up kids cannot make us hammer the provider."""

    def __init__(
        self,
        fetch: Callable[[], dict[str, Any]],
        *,
        min_refetch_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            jwks = jwt.PyJWKSet.from_dict(self._fetch())
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(
                f"the issuer's keys could not be read: {exc}", field="kid"
            ) from exc
        self._keys = {k.key_id: k for k in jwks.keys if k.key_id}
        self._fetched_at = self._clock()

    def get(self, kid: str | None) -> jwt.PyJWK:
        if not kid:
            raise Unauthenticated("missing: the token names no signing key", field="kid")
        with self._lock:
            key = self._keys.get(kid)
            if key is None and self._clock() - self._fetched_at >= self._min_refetch:
                self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated(f"no key {kid!r} of the issuer signs it", field="kid")
        return key

    def load(self) -> None:
        with self._lock:
            self._refresh()


class TokenVerifier:
    def __init__(self, settings: OidcVerifierSettings, keys: JwksKeys | None = None) -> None:
        if not settings.issuer:
            raise ConfigError(
                "an OpenID Connect issuer is required: every caller is authenticated",
                field="HOMEWARD_OIDC_ISSUER",
            )
        self.settings = settings
        self.issuer = settings.issuer.rstrip("/")
        self.keys = keys or JwksKeys(self._fetch_jwks)
        self._jwks_uri = settings.jwks_url

    def _fetch_jwks(self) -> dict[str, Any]:
        if not self._jwks_uri:
            self._jwks_uri = self._discover_jwks_uri()
        body: dict[str, Any] = httpx.get(self._jwks_uri, timeout=10).raise_for_status().json()
        return body

    def _discover_jwks_uri(self) -> str:
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            doc = httpx.get(url, timeout=10).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(
                f"the identity provider's discovery document could not be read: {exc}",
                field="issuer",
            ) from exc
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Unauthenticated("the discovery document has no jwks_uri", field="issuer")
        return jwks_uri

    def ready(self) -> bool:
        """Whether the issuer's keys can be read (tried at start; a token retries)."""
        try:
            self.keys.load()
        except HomewardError:
            return False
        return True

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, or Unauthenticated naming what is wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise Unauthenticated(f"not a JWT: {exc}", field="token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"algorithm {header.get('alg')!r} is not accepted", field="alg")
        key = self.keys.get(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", field="exp") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet", field="nbf") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"the token is not for {self.settings.audience!r}", field="aud"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer", field="iss") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the signature does not verify", field="signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated("missing", field=exc.claim) from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}", field="token") from None
        return self.principal(claims)

    def principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        agency_id = claim(claims, s.agency_claim)
        if not isinstance(agency_id, str) or not agency_id:
            raise Unauthenticated("missing: the token names no agency", field=s.agency_claim)
        raw_type = claim(claims, s.agency_type_claim)
        try:
            agency_type = AgencyType(raw_type)
        except ValueError:
            raise Unauthenticated(
                f"{raw_type!r} is not an agency type", field=s.agency_type_claim
            ) from None
        roles = claim(claims, s.roles_claim) or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated("must be a list of role names", field=s.roles_claim)
        username = str(claims.get("preferred_username") or "")
        client_id = str(claims.get("azp") or claims.get("client_id") or "")
        # Keycloak names a client's service account service-account-<client>;
        # other providers issue client-credentials tokens without a username.
        system = not username or username.startswith("service-account-")
        return Principal(
            subject=str(claims["sub"]),
            name=client_id if system and client_id else username or str(claims["sub"]),
            kind=PrincipalKind.SYSTEM if system else PrincipalKind.PERSON,
            agency_id=agency_id,
            agency_type=agency_type,
            roles=frozenset(roles),
            client_id=client_id,
            issuer=self.issuer,
        )


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or Unauthenticated."""
    if not header:
        raise Unauthenticated("missing: send Authorization: Bearer <token>", field="Authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("must be Bearer <token>", field="Authorization")
    return token.strip()
