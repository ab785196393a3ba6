"""The forwarder against httpx's in-process transport (an HTTP endpoint
stand-in; no Kafka involved)."""

from __future__ import annotations

import json

import httpx
import pytest

from homeward.codec import Codec
from homeward_agency.delivery import Delivery, decode_delivery
from homeward_agency.forward import Forwarder, ForwardError
from tests.unit.agency import samples as s


def delivery() -> Delivery:
    codec = Codec()
    return decode_delivery(codec, s.raw(s.encode(codec, s.delivery("PS-1", "D-1"), "PS-1")))


def forwarder(
    statuses: list[int | Exception], seen: list[httpx.Request], attempts: int = 3
) -> Forwarder:
    replies = iter(statuses)

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = next(replies)
        if isinstance(status, Exception):
            raise status
        return httpx.Response(status)

    client = httpx.Client(transport=httpx.MockTransport(reply))
    return Forwarder("http://agency.example.test/in", attempts=attempts, backoff=0, client=client)


def test_posts_the_delivery_json_with_an_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    forwarder([204], seen)(delivery())
    assert len(seen) == 1
    body = json.loads(seen[0].content)
    assert body["delivery_id"] == "D-1" and body["kind"] == "alert"
    assert seen[0].headers["idempotency-key"] == "D-1"
    assert seen[0].headers["content-type"] == "application/json"


def test_retries_server_errors_and_connection_failures_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    forwarder([503, httpx.ConnectError("refused"), 200], seen)(delivery())
    assert len(seen) == 3


def test_gives_up_after_the_allowed_attempts() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ForwardError) as err:
        forwarder([500, 502, 503, 200], seen)(delivery())
    assert len(seen) == 3
    assert err.value.field == "forward_url" and "HTTP 503" in err.value.reason


def test_a_client_error_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ForwardError, match="HTTP 400"):
        forwarder([400, 200], seen)(delivery())
    assert len(seen) == 1


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Forwarder("http://agency.example.test/in", attempts=0)


def test_signs_every_try_with_each_secret_and_the_same_id() -> None:
    from standardwebhooks.webhooks import Webhook

    from homeward.webhook_signing import Secret

    current, previous = Secret.generate(), Secret.generate()
    seen: list[httpx.Request] = []
    replies = iter([503, 204])

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(replies))

    client = httpx.Client(transport=httpx.MockTransport(reply))
    Forwarder(
        "http://agency.example.test/in",
        backoff=0,
        client=client,
        secrets=[current.serialize(), previous],
    )(delivery())
    assert len(seen) == 2
    assert {r.headers["webhook-id"] for r in seen} == {"D-1"}
    for request in seen:
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (current, previous):  # verified by the reference library
            body = Webhook(secret.serialize()).verify(request.content, dict(request.headers))
            assert body["delivery_id"] == "D-1"


def test_unsigned_without_secrets() -> None:
    seen: list[httpx.Request] = []
    forwarder([204], seen)(delivery())
    assert "webhook-signature" not in seen[0].headers


def test_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from homeward.webhook_signing import Secret
    from homeward_agency.forward import SECRETS_ENV, SECRETS_FILE_ENV, secrets_from_env

    one, two = Secret.generate(), Secret.generate()
    path = tmp_path / "forward-secret"
    path.write_text(two.serialize() + "\n")
    monkeypatch.setenv(SECRETS_ENV, one.serialize())
    monkeypatch.setenv(SECRETS_FILE_ENV, str(path))
    assert secrets_from_env() == [one, two]
    monkeypatch.setenv(SECRETS_ENV, "not-a-secret")
    with pytest.raises(Exception, match="HOMEWARD_AGENCY_FORWARD_SECRETS: must start with"):
        secrets_from_env()
