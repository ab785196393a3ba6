"""Where a caller's bearer token comes from. Every client (the intake client,
every SDK) takes a TokenProvider, so callers write no token code; the
OIDC client-credentials provider lives beside this interface."""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    def token(self) -> str:
        """A valid access token (fetched, cached, refreshed before it expires)."""
        ...


class StaticToken:
    """A token the caller already holds (a person's, from a browser login)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token
