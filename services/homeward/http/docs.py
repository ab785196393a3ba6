"""An OpenAPI page that works on a closed network.

FastAPI's default `/docs` loads Swagger UI's script and style from a public CDN, so on a
network without one the page is blank; `/redoc` does the same. Here Swagger UI's files come
from the `swagger-ui-bundle-v2` wheel (Swagger UI 5, which reads OpenAPI 3.1, as FastAPI
writes it) and are served by the app itself under `/docs/static`. Build the app with
`docs_url=None, redoc_url=None` and call `install_offline_docs(app)`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from homeward.errors import ConfigError

DOCS_PATH = "/docs"
STATIC_PATH = "/docs/static"


def swagger_ui_dir() -> Path:
    """Where the installed wheel keeps Swagger UI's built files."""
    try:
        import swagger_ui_bundle
    except ImportError as exc:
        raise ConfigError(
            "swagger-ui-bundle-v2 is not installed (it serves /docs offline)",
            field="swagger_ui_bundle",
        ) from exc
    path = Path(swagger_ui_bundle.swagger_ui_path)
    if not (path / "swagger-ui-bundle.js").is_file():
        raise ConfigError(f"no swagger-ui-bundle.js under {path}", field="swagger_ui_bundle")
    return path


def install_offline_docs(app: FastAPI) -> None:
    """`/docs` (Swagger UI) with every asset served from `/docs/static`: no other host."""
    if app.docs_url or app.redoc_url:
        raise ConfigError(
            "build the app with docs_url=None and redoc_url=None: their pages load a CDN",
            field="docs_url",
        )
    app.mount(STATIC_PATH, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - API"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_PATH}/favicon-32x32.png",
            # Swagger UI otherwise asks validator.swagger.io for a badge image.
            swagger_ui_parameters={"validatorUrl": None},
        )
