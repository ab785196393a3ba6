"""Cross-site request forgery: a synchronizer token (OWASP's pattern). One random token per
session, put in every form as a hidden field, compared in constant time on every POST; a
POST without the session's token is refused before it does anything."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

FIELD = "csrf_token"
SESSION_KEY = "csrf"


class CsrfRefused(Exception):
    """A POST without the session's token (HTTP 403)."""


def token(session: MutableMapping[str, Any]) -> str:
    """The session's token, made on first use."""
    held = session.get(SESSION_KEY)
    if not isinstance(held, str) or len(held) < 32:
        held = session[SESSION_KEY] = secrets.token_urlsafe(32)
    return held


def check(session: MutableMapping[str, Any], sent: object) -> None:
    held = session.get(SESSION_KEY)
    if not isinstance(held, str) or not isinstance(sent, str) or not sent:
        raise CsrfRefused("missing: the form carries no token of this session")
    if not hmac.compare_digest(held.encode(), sent.encode()):
        raise CsrfRefused("the form's token is not this session's")
