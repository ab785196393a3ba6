"""The few admin REST API calls tests and operators need on the embedded Keycloak: disable or
enable a client (a revoked system), rotate the realm's signing key.

Authenticates as the bootstrap admin client of the master realm (client credentials), so the
token is fetched, cached and refreshed like any system's.
"""

from __future__ import annotations

from typing import Any

import httpx

from homeward.auth.oidc_client import ClientCredentials
from homeward.idp.java import IdpError

KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"


class KeycloakAdmin:
    def __init__(
        self, base_url: str, client_id: str, client_secret: str, *, realm: str = "homeward"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self._http = httpx.Client(timeout=30.0)
        self._tokens = ClientCredentials(
            f"{self.base_url}/realms/master", client_id, client_secret, http=self._http
        )

    def token(self) -> str:
        return self._tokens.token()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}/admin/realms/{self.realm}{path}"
        resp = self._http.request(
            method, url, headers={"Authorization": f"Bearer {self.token()}"}, **kwargs
        )
        if resp.status_code >= 400:
            raise IdpError(
                f"{method} {url}: HTTP {resp.status_code} {resp.text[:300]}", field="admin API"
            )
        return resp

    # -- clients

    def client(self, client_id: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = self._call(
            "GET", "/clients", params={"clientId": client_id}
        ).json()
        if not found:
            raise IdpError(f"no client {client_id!r} in realm {self.realm}", field="client_id")
        return found[0]

    def set_client_enabled(self, client_id: str, enabled: bool) -> None:
        rep = self.client(client_id)
        rep["enabled"] = enabled
        self._call("PUT", f"/clients/{rep['id']}", json=rep)

    def disable_client(self, client_id: str) -> None:
        """Revoke a system: its next token request fails (tokens already out stay valid until
        they expire, at most the realm's 300 s)."""
        self.set_client_enabled(client_id, False)

    def enable_client(self, client_id: str) -> None:
        self.set_client_enabled(client_id, True)

    # -- keys

    def key_providers(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call(
            "GET", "/components", params={"type": KEY_PROVIDER_TYPE}
        ).json()
        return found

    def active_rs256_kids(self) -> list[str]:
        """Key ids of the active RS256 signing keys, highest priority first."""
        keys = self._call("GET", "/keys").json().get("keys", [])
        rs = [k for k in keys if k.get("algorithm") == "RS256" and k.get("status") == "ACTIVE"]
        rs.sort(key=lambda k: int(k.get("providerPriority", 0)), reverse=True)
        return [str(k["kid"]) for k in rs]

    def rotate_signing_key(
        self, *, name: str = "rotated", priority: int | None = None, retire: str = "keep"
    ) -> str:
        """Add a new generated RSA key provider above every other; return the new ``kid``.

        ``retire`` says what happens to the older RS256 providers: ``keep`` (still active),
        ``passive`` (not used to sign, still in the JWKS so tokens signed with them verify) or
        ``disable`` (gone from the JWKS: their tokens no longer verify).
        """
        if retire not in ("keep", "passive", "disable"):
            raise IdpError(f"not keep, passive or disable: {retire!r}", field="retire")
        providers = self.key_providers()
        old_rsa = [
            p
            for p in providers
            if p.get("providerId") in ("rsa-generated", "rsa")
            and p.get("config", {}).get("algorithm", ["RS256"]) == ["RS256"]
        ]
        top = max(
            (int(p.get("config", {}).get("priority", ["0"])[0]) for p in providers), default=0
        )
        realm_id = self._call("GET", "").json()["id"]
        before = set(self.active_rs256_kids())
        self._call(
            "POST",
            "/components",
            json={
                "name": name,
                "providerId": "rsa-generated",
                "providerType": KEY_PROVIDER_TYPE,
                "parentId": realm_id,
                "config": {
                    "priority": [str(priority if priority is not None else top + 100)],
                    "enabled": ["true"],
                    "active": ["true"],
                    "algorithm": ["RS256"],
                    "keySize": ["2048"],
                },
            },
        )
        if retire != "keep":
            for provider in old_rsa:
                config = dict(provider.get("config", {}))
                config["active" if retire == "passive" else "enabled"] = ["false"]
                self._call(
                    "PUT", f"/components/{provider['id']}", json={**provider, "config": config}
                )
        new = [kid for kid in self.active_rs256_kids() if kid not in before]
        if not new:
            raise IdpError("the new key provider made no new active RS256 key", field="keys")
        return new[0]

    def close(self) -> None:
        self._http.close()
