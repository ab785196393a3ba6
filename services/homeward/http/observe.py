"""A web service's metrics: GET /metrics on its own HTTP port, homeward_up and
homeward_ready, and every request counted and timed by route template
(`/v1/alerts/{case_id}/sightings`, never the raw path: a case id in a label
is unbounded, and personal). A path no route matches is `unmatched`, so a
scanner cannot multiply the series either.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from homeward.metric_labels import http_method
from homeward.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, READY, UP, set_build_info

UNMATCHED = "unmatched"

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    # prometheus_client's own encoders: OpenMetrics when the scraper asks for it.
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled `scope`, which the router
    leaves in it; a request refused before routing (a 413 or 415 from the
    guard) or matching no route is `unmatched`."""
    return str(getattr(scope.get("route"), "path", None) or UNMATCHED)


class HttpMetrics:
    """Pure ASGI middleware, outermost, so refusals by the request guard (413,
    415) are counted too. An exception that escapes counts as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = http_method(scope["method"])
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_template(scope)
            HTTP_REQUEST_SECONDS.labels(route, method).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()


def install(app: Any, service: str, ready: Callable[[], bool]) -> None:
    """Mount /metrics, count requests, and report up and ready for `service`."""
    set_build_info(service)
    app.include_router(router)
    app.add_middleware(HttpMetrics)
    # Served at all means up; ready is asked of the service itself when scraped.
    UP.labels(service).set(1)
    READY.labels(service).set_function(lambda: float(ready()))
