"""The composition root: the gateway's FastAPI app.

`create_app(gateway, settings, verifier, mounts=...)` takes a ready-made
service.Gateway, so unit tests pass an in-memory store and sink;
`build_kafka_app(settings, kafka)` is the one place that wires Kafka (the
inbox follower, the producer, the audit writer). The other parts of the
gateway (console, public feed, tips, webhooks) are `mounts`: each is a
callable `mount(app, gateway, settings) -> None` that adds its routes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI, Request

from homeward.audit import Auditor
from homeward.auth.jwt_verifier import TokenVerifier
from homeward.http import observe
from homeward.http.docs import install_offline_docs
from homeward.http.errors import audit_refusals, install_error_handlers, refuse
from homeward.http.guard import RequestGuard
from homeward_gateway import routes_anomalies, routes_inbox, routes_ops, routes_reports
from homeward_gateway.service import (
    SERVICE,
    Gateway,
    IllegalAnswer,
    InvalidAnswer,
    NotAcknowledgeable,
    NotFound,
)
from homeward_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

Mount = Callable[[FastAPI, Gateway, GatewaySettings], None]

DESCRIPTION = """\
Each agency's own inbox on the Homeward bus, over HTTPS: the deliveries the
fan-out and the referral router addressed to your agency (and only those),
as a cursor-paged list and as a live stream of server-sent events that
resumes with `Last-Event-ID`. Acknowledge an alert, answer a referral, and
(police) acknowledge mandatory reports: each publishes exactly what the
agency SDK would, with you as actor, and is on the audit record.

Authenticate with a bearer token from the identity provider: staff log in,
agency systems use client credentials. Another agency's delivery id is
answered 404, like an unknown one.
"""


class Runner(Protocol):
    """What runs beside the app (the inbox follower): started in the background."""

    def start(self) -> None: ...

    def close(self) -> None: ...


class Connector:
    """Starts the runner in the background, retrying until Kafka is there: the
    HTTP server comes up at once (liveness), readiness waits for the inboxes."""

    def __init__(self, runner: Runner, backoff: tuple[float, float] = (0.5, 10.0)) -> None:
        self.runner = runner
        self.backoff = backoff
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gateway-connector", daemon=True)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self.stop.is_set():
            try:
                self.runner.start()
                log.info("gateway connected: inbox topics read, producer up")
                return
            except Exception as exc:  # any failure is retried and logged
                log.warning("waiting for Kafka (retry in %.1fs): %s", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])


def _auditor_of(request: Request) -> Auditor | None:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    return gateway.auditor if gateway is not None else None


audit_refusal = audit_refusals(SERVICE, _auditor_of)


def install_gateway_handlers(app: FastAPI) -> None:
    install_error_handlers(app, audit_refusal)

    refuse(app, NotFound, 404, "not_found", audit_refusal)
    refuse(app, NotAcknowledgeable, 409, "not_acknowledgeable", audit_refusal)
    refuse(app, InvalidAnswer, 422, "invalid_request", audit_refusal)
    refuse(
        app,
        IllegalAnswer,
        409,
        "illegal_transition",
        audit_refusal,
        extra=lambda exc: {"state": exc.state.value, "allowed": exc.allowed},
    )


def create_app(
    gateway: Gateway,
    settings: GatewaySettings | None,
    verifier: TokenVerifier,
    *,
    mounts: Sequence[Mount] = (),
    runner: Runner | None = None,
    exempt_prefixes: tuple[str, ...] = (),
) -> FastAPI:
    """The app over `gateway`; `verifier` checks every caller's bearer token;
    `runner` (the inbox follower) is started in the background and closed at
    shutdown; `exempt_prefixes` are paths the JSON body guard leaves to their
    mount (a console's form posts)."""
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The inbox follower first, then what the mounts asked for (app.state.runners).
        runners: list[Runner] = ([runner] if runner is not None else []) + list(app.state.runners)
        connectors = [Connector(r) for r in runners]
        for c in connectors:
            c.thread.start()
        app.state.connector = connectors[0] if connectors else None
        try:
            yield
        finally:
            for c in connectors:
                c.stop.set()
            for c in connectors:
                c.thread.join(timeout=5)
            for r in reversed(runners):
                r.close()

    app = FastAPI(
        title="Homeward agency gateway",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's own pages load a CDN: blank on a closed network.
        docs_url=None,
        redoc_url=None,
    )
    install_offline_docs(app)
    app.state.gateway = gateway
    app.state.settings = settings
    app.state.verifier = verifier
    # A mount that runs something beside the app (a webhook sender) appends a
    # Runner here; the lifespan starts it in the background and closes it.
    app.state.runners = []
    app.add_middleware(
        RequestGuard,
        max_body_bytes=settings.max_body_bytes,
        allow_empty=True,
        exempt_prefixes=exempt_prefixes,
    )
    observe.install(app, SERVICE, gateway.ready)  # after the guard: its refusals are counted
    install_gateway_handlers(app)
    app.include_router(routes_inbox.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_anomalies.router)
    app.include_router(routes_ops.router)
    for mount in mounts:
        mount(app, gateway, settings)
    return app
