"""What schemathesis checks of a live service (fuzz/api.py), as a plain
assertion for the unit tests: an answer's status is one its route documents,
its content type is the one documented for that status, and a JSON error is
the shared error body (homeward.http.responses.ErrorBody)."""

from __future__ import annotations

from typing import Any

import httpx

from homeward.http.responses import ErrorBody


def assert_documented(
    openapi: dict[str, Any], method: str, template: str, resp: httpx.Response
) -> None:
    route = openapi["paths"][template][method.lower()]
    documented = route["responses"]
    status = str(resp.status_code)
    assert status in documented or "default" in documented, (
        f"{method} {template} answered {status}, documented {sorted(documented)}: {resp.text[:300]}"
    )
    content = documented.get(status, documented.get("default", {})).get("content", {})
    if content:
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        assert media in content, f"{method} {template} {status}: {media} not in {sorted(content)}"
    if resp.status_code >= 400 and resp.headers.get("content-type", "").startswith(
        "application/json"
    ):
        ErrorBody.model_validate(resp.json())
        schema = content.get("application/json", {}).get("schema", {})
        assert schema.get("$ref", "").endswith("/ErrorBody"), (
            f"{method} {template} {status} documents {schema}, not the error body it sends"
        )
