"""/docs works on a closed network: Swagger UI's files are served by the app itself."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from homeward.errors import ConfigError
from homeward.http.docs import install_offline_docs
from tests.offline import css_references, external, references


def docs_app() -> FastAPI:
    app = FastAPI(title="Probe", docs_url=None, redoc_url=None)
    install_offline_docs(app)
    return app


def assert_docs_offline(http: TestClient) -> None:
    page = http.get("/docs")
    assert page.status_code == 200
    urls = references(page.text)
    assert external(urls) == [], "the docs page names another host"
    assets = [u for u in urls if u.startswith("/docs/static/")]
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in assets:
        got = http.get(url)
        assert got.status_code == 200, url
        assert len(got.content) > 100, url
        if url.endswith(".css"):
            assert external(css_references(got.text)) == [], f"{url} loads another host"
    # The badge Swagger UI would fetch from validator.swagger.io is switched off.
    assert '"validatorUrl": null' in page.text
    assert http.get("/openapi.json").json()["openapi"].startswith("3.")


def test_docs_page_and_its_assets_are_served_by_the_app() -> None:
    with TestClient(docs_app()) as http:
        assert_docs_offline(http)
        assert http.get("/redoc").status_code == 404  # ReDoc loads a CDN: not offered


def test_an_app_with_fastapis_cdn_pages_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        install_offline_docs(FastAPI())
    assert err.value.field == "docs_url"
