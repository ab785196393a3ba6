"""The embedded Keycloak (homeward.idp) and the token providers, on the real provider."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from homeward.auth.oidc_client import TokenError
from homeward.idp.realm import AUDIENCE
from tests.fixtures.idp import Idp

pytestmark = pytest.mark.integration


def _discovery(idp: Idp) -> dict[str, Any]:
    resp = httpx.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=10)
    resp.raise_for_status()
    doc: dict[str, Any] = resp.json()
    return doc


def _verify(idp: Idp, token: str) -> dict[str, Any]:
    """Check the token as a resource server would: signature from the JWKS, iss, aud, exp."""
    jwks = jwt.PyJWKClient(_discovery(idp)["jwks_uri"], cache_keys=False)
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=idp.issuer,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    return claims


def test_discovery_document_names_the_issuer_and_endpoints(idp: Idp) -> None:
    doc = _discovery(idp)
    assert doc["issuer"] == idp.issuer
    assert doc["issuer"].startswith(("http://127.0.0.1:", "https://"))
    assert doc["token_endpoint"].startswith(idp.issuer)
    assert "client_credentials" in doc["grant_types_supported"]
    assert "RS256" in doc["id_token_signing_alg_values_supported"]


def test_client_credentials_token_carries_the_contract(idp: Idp) -> None:
    provider = idp.client("police-case-system", fresh=True)
    token = provider.token()
    claims = _verify(idp, token)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert AUDIENCE in aud
    assert claims["azp"] == "police-case-system"
    assert claims["preferred_username"] == "service-account-police-case-system"
    assert claims["agency_id"] == "POL-0001"
    assert claims["agency_type"] == "police"
    # Exactly the roles-table roles it holds: no Keycloak default role reaches a token.
    assert sorted(claims["roles"]) == ["police_officer", "police_supervisor"]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    # Cached: a second call makes no request.
    assert provider.token() == token
    assert provider.fetches == 1


def test_agency_and_hospital_systems_have_their_agency(idp: Idp) -> None:
    agency = _verify(idp, idp.client("agency-system-edu-0001", fresh=True).token())
    assert (agency["agency_id"], agency["agency_type"]) == ("EDU-0001", "education")
    assert sorted(agency["roles"]) == ["agency_caseworker", "mandatory_reporter"]
    hospital = _verify(idp, idp.client("hospital-system-hosp-demo-1", fresh=True).token())
    assert (hospital["agency_id"], hospital["agency_type"]) == ("HOSP-DEMO-1", "health")
    assert sorted(hospital["roles"]) == ["hospital_system", "mandatory_reporter"]


def test_wrong_secret_is_a_clear_error(idp: Idp) -> None:
    from homeward.auth.oidc_client import ClientCredentials

    wrong = ClientCredentials(idp.issuer, "police-case-system", "not-the-secret")
    with pytest.raises(TokenError) as err:
        wrong.token()
    assert err.value.field == "client_secret"
    # Keycloak answers a wrong secret with unauthorized_client (RFC 6749 says invalid_client).
    assert "Invalid client credentials" in str(err.value)


def test_person_logs_in_with_the_password_grant_and_refreshes(idp: Idp) -> None:
    login = idp.login("staff-pol-0003")
    claims = _verify(idp, login.token())
    assert claims["preferred_username"] == "staff-pol-0003"
    assert claims["azp"] == idp.console_client
    assert (claims["agency_id"], claims["agency_type"]) == ("POL-0003", "police")
    assert sorted(claims["roles"]) == ["agency_caseworker", "police_officer"]
    login.invalidate()  # the next token comes from the refresh token, not the password
    assert _verify(idp, login.token())["sub"] == claims["sub"]
    assert login.refreshes == 1


def test_wrong_password_names_the_field(idp: Idp) -> None:
    with pytest.raises(TokenError) as err:
        idp.login("staff-pol-0003", "wrong-password").token()
    assert err.value.field == "password"


def test_a_disabled_client_is_refused_with_a_clear_error(idp: Idp) -> None:
    admin = idp.admin_api()
    provider = idp.client(idp.revoked_client, fresh=True)
    assert _verify(idp, provider.token())["azp"] == idp.revoked_client
    admin.disable_client(idp.revoked_client)
    try:
        provider.invalidate()
        with pytest.raises(TokenError) as err:
            provider.token()
        assert err.value.field == "client_secret"
        assert "invalid_client" in str(err.value)
    finally:
        admin.enable_client(idp.revoked_client)


def test_key_rotation_signs_with_a_new_kid_in_the_jwks(idp: Idp) -> None:
    admin = idp.admin_api()
    old_token = idp.client("coordination-system", fresh=True).token()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_kid = admin.rotate_signing_key(name="rotated-by-test", retire="passive")
    assert new_kid != old_kid
    token = idp.client("coordination-system", fresh=True).token()
    assert jwt.get_unverified_header(token)["kid"] == new_kid
    jwks = httpx.get(_discovery(idp)["jwks_uri"], timeout=10).json()
    kids = {k["kid"] for k in jwks["keys"]}
    assert {new_kid, old_kid} <= kids  # the passive old key still verifies tokens out there
    assert _verify(idp, token)["azp"] == "coordination-system"
    assert _verify(idp, old_token)["azp"] == "coordination-system"
