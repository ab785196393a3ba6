"""A local stand-in for the identity provider in unit tests: an RSA key pair,
its JWKS and a minting function, so every unit test sends a real RS256 token
that intake's real verifier checks (the real Keycloak is the integration
tests' business)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Generator
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from homeward.auth.jwt_verifier import JwksKeys, OidcVerifierSettings, TokenVerifier

ISSUER = "https://idp.test.invalid/realms/homeward"
AUDIENCE = "homeward"


class TestIdp:
    """Keys by kid; `rotate()` adds a new current key (the JWKS then holds both)."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.kid = self.rotate(publish=True)

    def rotate(self, *, publish: bool = True) -> str:
        kid = f"test-key-{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)
        self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        self.fetches += 1
        out = []
        for kid in self.published:
            jwk = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": ISSUER,
            "aud": [AUDIENCE, "account"],
            "sub": str(
                uuid.uuid5(uuid.NAMESPACE_URL, str(overrides.get("azp", "police-case-system")))
            ),
            "azp": "police-case-system",
            "preferred_username": "service-account-police-case-system",
            "iat": now,
            "exp": now + 300,
            "agency_id": "PS-TEST-1",
            "agency_type": "police",
            "roles": ["police_officer", "police_supervisor", "police_forensics"],
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def mint(
        self, *, kid: str | None = None, headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        kid = kid or self.kid
        return jwt.encode(
            self.claims(**claims),
            self.keys[kid],
            algorithm="RS256",
            headers={"kid": kid, **(headers or {})},
        )

    def verifier(self, **settings: Any) -> TokenVerifier:
        refetch = settings.pop("min_refetch_seconds", 0.0)
        oidc = OidcVerifierSettings(issuer=ISSUER, audience=AUDIENCE, **settings)
        return TokenVerifier(oidc, JwksKeys(self.jwks, min_refetch_seconds=refetch))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def persona(idp: TestIdp, method: str, path: str, body: Any) -> dict[str, Any]:
    """The claims of the caller that would rightly send this request: the alert's
    issuing unit, the record's hospital, the answering agency. Tests of the
    rules themselves (another agency, a missing role) mint their own tokens."""
    body = body if isinstance(body, dict) else {}

    def named(field: str, default: str) -> str:
        value = body.get(field)
        return value if isinstance(value, str) and value else default

    if path.startswith("/v1/health/"):
        return {
            "agency_id": named("hospital_id", "HL-TEST-1"),
            "agency_type": "health",
            "roles": ["hospital_system"],
            "azp": "hospital-system",
        }
    if path == "/v1/reports":
        return {
            "agency_id": "ED-TEST-1",
            "agency_type": "education",
            "roles": ["mandatory_reporter"],
            "azp": "school-system",
        }
    if path.startswith("/v1/referrals/") and path.endswith("/answers"):
        return {
            "agency_id": named("agency_id", "CA-TEST-1"),
            "agency_type": "civil_affairs",
            "roles": ["agency_caseworker"],
            "azp": "agency-system",
        }
    if path.startswith("/v1/cases/") and path.endswith("/outcomes"):
        procuratorate = body.get("stage") in ("charged", "not_charged")
        return {
            "agency_id": "PR-TEST-1" if procuratorate else "CT-TEST-1",
            "agency_type": "procuratorate" if procuratorate else "court",
            "roles": ["judicial_officer"],
            "azp": "court-system",
        }
    if path.startswith("/v1/reports/"):
        return {"agency_id": named("agency_id", "PS-TEST-1")}
    if path == "/v1/alerts" and method == "POST":
        return {}
    return {}


class PersonaAuth(httpx.Auth):
    """Adds the rightful caller's token to a request that carries none."""

    def __init__(self, idp: TestIdp) -> None:
        self.idp = idp

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            try:
                body = json.loads(request.content or b"null")
            except (ValueError, RecursionError, httpx.RequestNotRead):
                body = None  # not JSON, too deep, or streamed: the default caller
            claims = persona(self.idp, request.method, request.url.path, body)
            request.headers["Authorization"] = f"Bearer {self.idp.mint(**claims)}"
        yield request
