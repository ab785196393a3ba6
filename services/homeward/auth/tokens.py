"""Where a caller's bearer token comes from. Every client (the intake client,
every SDK) takes a TokenProvider, so callers write no token code; the
OIDC providers live beside this interface, in oidc_client.py: ClientCredentials
(a system), PasswordLogin (a person), token_provider_from_env()."""

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
