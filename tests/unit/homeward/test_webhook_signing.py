"""Standard Webhooks signatures: round trips, rotation with two secrets, and
tampering caught; cross-checked against the `standardwebhooks` package."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from homeward.errors import ValidationError
from homeward.webhook_signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Secret,
    sign,
    signed_content,
    verify,
    webhook_id,
)

OLD = Secret(b"o" * 32)
NEW = Secret(b"n" * 32)
BODY = b'{"kind":"alert","delivery_id":"D-1","data":{"name":"Test Child"}}'


def test_round_trip_with_our_verifier_and_the_reference_library() -> None:
    headers = sign("D-1", BODY, [NEW])
    verify(headers, BODY, [NEW])
    assert Webhook(NEW.serialize()).verify(BODY, headers) == {
        "kind": "alert",
        "delivery_id": "D-1",
        "data": {"name": "Test Child"},
    }


def test_the_example_of_the_reference_library() -> None:
    # standardwebhooks' own test vector: its secret, id, timestamp and payload.
    secret = Secret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", b'{"test": 2432232314}', [secret], 1614265330)
    assert headers[SIGNATURE_HEADER] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_two_secrets_sign_twice_and_either_verifies() -> None:
    headers = sign("D-2", BODY, [NEW, OLD])
    assert len(headers[SIGNATURE_HEADER].split(" ")) == 2
    for secret in (NEW, OLD):
        verify(headers, BODY, [secret])
        Webhook(secret.serialize()).verify(BODY, headers)
    with pytest.raises(ValidationError) as err:
        verify(headers, BODY, [Secret(b"x" * 32)])
    assert err.value.field == SIGNATURE_HEADER


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"Test", b"Fake")),
        lambda h, b: ({**h, TIMESTAMP_HEADER: str(int(h[TIMESTAMP_HEADER]) + 1)}, b),
        lambda h, b: ({**h, "webhook-id": "D-OTHER"}, b),
    ],
    ids=["body", "timestamp", "id"],
)
def test_a_tampered_body_timestamp_or_id_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = tamper(sign("D-3", BODY, [NEW]), BODY)
    with pytest.raises(ValidationError) as err:
        verify(headers, body, [NEW])
    assert err.value.field == SIGNATURE_HEADER
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW.serialize()).verify(body, headers)


def test_an_old_timestamp_is_refused_as_a_replay() -> None:
    headers = sign("D-4", BODY, [NEW], timestamp=int(time.time()) - 301)
    with pytest.raises(ValidationError) as err:
        verify(headers, BODY, [NEW])
    assert err.value.field == TIMESTAMP_HEADER


def test_missing_header_named() -> None:
    headers = sign("D-5", BODY, [NEW])
    del headers[SIGNATURE_HEADER]
    with pytest.raises(ValidationError, match="webhook-signature: is missing"):
        verify(headers, BODY, [NEW])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("secret_abc", "must start with 'whsec_'"),
        ("whsec_!!notbase64", "not valid base64"),
        ("whsec_" + "YWJj", "key is 3 bytes"),
    ],
)
def test_bad_secrets_are_named(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as err:
        Secret.parse(text, field_name="endpoints.A.secrets[0]")
    assert err.value.field == "endpoints.A.secrets[0]"


def test_a_secret_never_prints_its_key() -> None:
    secret = Secret.generate()
    assert secret.serialize() not in repr(secret)
    assert Secret.parse(secret.serialize()) == secret


def test_ids_carrying_the_delimiter_are_refused_or_digested() -> None:
    with pytest.raises(ValidationError):
        signed_content("a.b", 1, b"")
    assert webhook_id("escalation:D-1") == "escalation:D-1"
    digested = webhook_id("REF.1")
    assert "." not in digested and digested == webhook_id("REF.1") != webhook_id("REF.2")


@given(
    key=st.binary(min_size=24, max_size=64), body=st.binary(max_size=2000), ts=st.integers(0, 2**32)
)
def test_matches_the_reference_signature_for_any_key_and_body(
    key: bytes, body: bytes, ts: int
) -> None:
    from datetime import UTC, datetime

    secret = Secret(key)
    text = body.decode("utf-8", "replace").encode()  # the reference signs text
    ours = sign("msg_1", text, [secret], ts)[SIGNATURE_HEADER]
    theirs = Webhook(secret.serialize()).sign(
        "msg_1", datetime.fromtimestamp(ts, UTC), text.decode()
    )
    assert ours == theirs
