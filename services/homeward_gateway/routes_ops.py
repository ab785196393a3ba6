"""Probes: /livez and /healthz (the process serves HTTP) and /readyz (the inbox topics are
read to their end and the producer is connected). /metrics is homeward.http.observe's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from homeward_gateway.routes_inbox import gateway_of

router = APIRouter(tags=["operations"])


@router.get("/livez", summary="Liveness: the process serves HTTP")
@router.get("/healthz", include_in_schema=False)  # the name every other service's probe uses
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: inbox topics read, producer connected",
    responses={503: {"description": "Not ready yet"}},
)
async def readyz(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    ready = gateway.ready()
    body = {
        "status": "ready" if ready else "not_ready",
        "producer": gateway.sink.ready(),
        "entries": len(gateway.store),
    }
    return JSONResponse(body, status_code=200 if ready else 503)
