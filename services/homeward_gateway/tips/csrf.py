"""CSRF protection for the public form, which has no session to bind a token
to: each rendered form carries a token of its own, HMAC-signed with a key
drawn at start, valid for a while and only once. A cross-site page cannot read
a token from our page (same-origin policy), so it cannot post a valid form.
The tokens used are kept in memory until they expire."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable


class FormTokens:
    def __init__(
        self, *, ttl_seconds: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_seconds
        self._clock = clock
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self) -> str:
        body = f"{int(self._clock())}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def redeem(self, token: str) -> str | None:
        """None if the token is good (and now spent), else why not."""
        issued, _, rest = token.partition(".")
        nonce, _, sig = rest.partition(".")
        if not (issued.isdigit() and nonce and sig):
            return "is missing or malformed"
        if not hmac.compare_digest(self._sign(f"{issued}.{nonce}"), sig):
            return "is not one this server issued"
        now = self._clock()
        if now - int(issued) > self._ttl:
            return "has expired; reload the form"
        with self._lock:
            for spent in [n for n, at in self._used.items() if now - at > self._ttl]:
                del self._used[spent]
            if nonce in self._used:
                return "was already used; reload the form"
            self._used[nonce] = now
        return None
