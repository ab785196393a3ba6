"""Standard Webhooks 1.0 signatures (symmetric, `v1`), for everything Homeward
POSTs to an agency's endpoint: the gateway's webhooks and the agency SDK's
`--forward`.

The scheme, to the letter of the specification
(https://github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md):

- headers `webhook-id` (stable across retries: the receiver's idempotency
  key), `webhook-timestamp` (integer unix seconds of this attempt) and
  `webhook-signature`;
- the signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the body
  byte for byte as sent;
- a signature is `v1,` + base64(HMAC-SHA256(key, signed content)); the
  header holds one per active secret, space-separated, so a secret is
  rotated with two valid at once and no receiver misses a message;
- a secret is `whsec_` + base64 of the key, at least 24 and at most 64
  bytes long.

Kept here (the shared library) rather than taking the `standardwebhooks`
package as a runtime dependency: the scheme is a few lines of the standard
library, and the integration test verifies what this module signs with that
package, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from homeward.errors import ValidationError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
VERSION = "v1"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
# The specification leaves the tolerance to the receiver; five minutes is what
# its reference libraries use.
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Secret:
    """A decoded `whsec_` signing secret; prints without its key."""

    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str, field_name: str = "secret") -> Secret:
        """`whsec_<base64>` -> Secret; ValidationError naming `field_name` otherwise."""
        text = text.strip()
        if not text.startswith(SECRET_PREFIX):
            raise ValidationError(f"must start with {SECRET_PREFIX!r}", field=field_name)
        try:
            key = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("is not valid base64 after whsec_", field=field_name) from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValidationError(
                f"key is {len(key)} bytes; {MIN_KEY_BYTES} to {MAX_KEY_BYTES} wanted",
                field=field_name,
            )
        return cls(key)

    @classmethod
    def generate(cls, size: int = 32) -> Secret:
        return cls(secrets.token_bytes(size))

    def serialize(self) -> str:
        return SECRET_PREFIX + base64.b64encode(self.key).decode("ascii")

    def sign(self, content: bytes) -> str:
        digest = hmac.new(self.key, content, hashlib.sha256).digest()
        return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def _check_id(webhook_id: str) -> None:
    # The spec: the id must not be caller-controlled in a way that lets it
    # carry the `.` delimiter (it would shift the signed content's fields).
    if not webhook_id or "." in webhook_id or any(c.isspace() for c in webhook_id):
        raise ValidationError("must be non-empty, with no '.' and no whitespace", field=ID_HEADER)


def webhook_id(key: str) -> str:
    """A `webhook-id` for an idempotency key: the key itself when it may be
    one (no '.', no whitespace), else a digest of it, the same every time."""
    if key and "." not in key and not any(c.isspace() for c in key):
        return key
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:40]


def signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed: `{id}.{timestamp}.{body}`."""
    _check_id(webhook_id)
    return f"{webhook_id}.{timestamp}.".encode() + body


def sign(
    webhook_id: str, body: bytes, secrets_: Sequence[Secret], timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt: one signature per
    active secret (current first). `timestamp` defaults to now."""
    if not secrets_:
        raise ValidationError("at least one secret is needed to sign", field="secrets")
    ts = int(time.time()) if timestamp is None else timestamp
    content = signed_content(webhook_id, ts, body)
    return {
        ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: " ".join(s.sign(content) for s in secrets_),
    }


def _signatures(header: str) -> Iterable[str]:
    for item in header.split(" "):
        version, _, value = item.partition(",")
        if version == VERSION and value:
            yield item


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets_: Sequence[Secret],
    *,
    now: int | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Check a received webhook; ValidationError naming the header otherwise.

    Homeward's own tests and agencies on Python may use it; agencies are
    pointed at the `standardwebhooks` libraries (docs/webhooks.md)."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        if not lower.get(name):
            raise ValidationError("is missing", field=name)
    try:
        ts = int(lower[TIMESTAMP_HEADER])
    except ValueError:
        raise ValidationError("is not an integer", field=TIMESTAMP_HEADER) from None
    current = int(time.time()) if now is None else now
    if abs(current - ts) > tolerance:
        raise ValidationError(
            f"is more than {tolerance}s from now (replayed?)", field=TIMESTAMP_HEADER
        )
    content = signed_content(lower[ID_HEADER], ts, body)
    expected = [s.sign(content) for s in secrets_]
    for candidate in _signatures(lower[SIGNATURE_HEADER]):
        if any(hmac.compare_digest(candidate, e) for e in expected):
            return
    raise ValidationError("no signature matches any secret", field=SIGNATURE_HEADER)
