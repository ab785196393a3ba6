"""Intake's /docs works on a closed network (Swagger UI served by intake itself)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.unit.homeward.test_http_docs import assert_docs_offline


def test_intakes_docs_are_offline(http: TestClient) -> None:
    assert_docs_offline(http)
    assert http.get("/redoc").status_code == 404
