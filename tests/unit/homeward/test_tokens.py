"""The token providers' own logic: caching, refresh before expiry, errors, settings. The
provider side is a stub (httpx.MockTransport) here; the real behaviour is tested against the
real Keycloak in tests/integration/test_idp.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from homeward.auth.oidc_client import (
    ClientCredentials,
    PasswordLogin,
    TokenError,
    token_provider_from_env,
)

ISSUER = "http://127.0.0.1:1/realms/test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _provider(
    answer: Callable[[dict[str, list[str]]], httpx.Response],
) -> tuple[httpx.Client, list[dict[str, list[str]]]]:
    forms: list[dict[str, list[str]]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"token_endpoint": f"{ISSUER}/token"})
        form = parse_qs(request.content.decode())
        forms.append(form)
        return answer(form)

    return httpx.Client(transport=httpx.MockTransport(handle)), forms


def _token(n: int, expires_in: int = 300, refresh: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"access_token": f"t{n}", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return httpx.Response(200, json=body)


def test_caches_until_the_margin_before_expiry() -> None:
    clock = Clock()
    http, forms = _provider(lambda form: _token(len(forms)))
    cc = ClientCredentials(ISSUER, "sys", "secret", refresh_margin=30, http=http, clock=clock)
    assert cc.token() == "t1"
    clock.now += 269
    assert cc.token() == "t1"
    clock.now += 1  # 270 s = 300 - 30: refresh now
    assert cc.token() == "t2"
    assert cc.fetches == 2
    assert forms[0]["grant_type"] == ["client_credentials"]
    assert forms[0]["client_id"] == ["sys"]
    assert forms[0]["client_secret"] == ["secret"]


def test_a_short_lived_token_is_refreshed_at_half_its_life() -> None:
    clock = Clock()
    http, forms = _provider(lambda form: _token(len(forms), expires_in=20))
    cc = ClientCredentials(ISSUER, "sys", "s", refresh_margin=30, http=http, clock=clock)
    assert cc.token() == "t1"
    clock.now += 9
    assert cc.token() == "t1"
    clock.now += 1
    assert cc.token() == "t2"


def test_audience_and_scope_are_sent_when_given() -> None:
    http, forms = _provider(lambda form: _token(1))
    ClientCredentials(ISSUER, "sys", "s", audience="homeward", scope="x y", http=http).token()
    assert forms[0]["audience"] == ["homeward"]
    assert forms[0]["scope"] == ["x y"]


def test_threads_share_one_fetch() -> None:
    http, forms = _provider(lambda form: _token(len(forms)))
    cc = ClientCredentials(ISSUER, "sys", "s", http=http)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cc.token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == ["t1"] * 8
    assert cc.fetches == 1


def test_refused_client_names_the_secret() -> None:
    http, _ = _provider(
        lambda form: httpx.Response(
            401, json={"error": "invalid_client", "error_description": "Invalid client"}
        )
    )
    with pytest.raises(TokenError) as err:
        ClientCredentials(ISSUER, "sys", "s", http=http).token()
    assert err.value.field == "client_secret"
    assert "invalid_client" in str(err.value)


def test_response_without_a_token_names_the_field() -> None:
    http, _ = _provider(lambda form: httpx.Response(200, json={"expires_in": 300}))
    with pytest.raises(TokenError) as err:
        ClientCredentials(ISSUER, "sys", "s", http=http).token()
    assert err.value.field == "access_token"


def test_no_discovery_document_names_the_issuer() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    with pytest.raises(TokenError) as err:
        ClientCredentials(ISSUER, "sys", "s", http=http).token()
    assert err.value.field == "issuer"


def test_password_login_refreshes_then_falls_back_to_the_password() -> None:
    clock = Clock()

    def answer(form: dict[str, list[str]]) -> httpx.Response:
        if form["grant_type"] == ["refresh_token"]:
            if form["refresh_token"] == ["r1"]:
                return _token(2, refresh="r2")
            return httpx.Response(400, json={"error": "invalid_grant"})
        assert form["username"] == ["staff"] and form["password"] == ["pw"]
        return _token(1, refresh="r1")

    http, forms = _provider(answer)
    login = PasswordLogin(ISSUER, "console", "staff", "pw", http=http, clock=clock)
    assert login.token() == "t1"
    clock.now += 280
    assert login.token() == "t2"  # by the refresh token
    clock.now += 280
    assert login.token() == "t1"  # refresh r2 refused: the password again
    assert [f["grant_type"][0] for f in forms] == [
        "password",
        "refresh_token",
        "refresh_token",
        "password",
    ]
    assert login.refreshes == 1


def test_secrets_do_not_print() -> None:
    cc = ClientCredentials(ISSUER, "sys", "very-secret")
    assert "very-secret" not in repr(cc) and "very-secret" not in repr(vars(cc))


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET", "AUDIENCE", "SCOPE"):
        monkeypatch.delenv(f"HOMEWARD_OIDC_{name}", raising=False)
    assert token_provider_from_env() is None
    monkeypatch.setenv("HOMEWARD_OIDC_ISSUER", ISSUER)
    with pytest.raises(TokenError) as err:
        token_provider_from_env()
    assert err.value.field == "HOMEWARD_OIDC_CLIENT_ID"
    monkeypatch.setenv("HOMEWARD_OIDC_CLIENT_ID", "sys")
    with pytest.raises(TokenError) as err:
        token_provider_from_env()
    assert err.value.field == "HOMEWARD_OIDC_CLIENT_SECRET"
    monkeypatch.setenv("HOMEWARD_OIDC_CLIENT_SECRET", "s")
    provider = token_provider_from_env()
    assert provider is not None
    assert (provider.issuer, provider.client_id) == (ISSUER, "sys")
    assert json.dumps(repr(provider))
