"""The composition root: builds the FastAPI app from its dependencies.

`create_app(intake, settings)` takes a ready-made handlers.Intake, so unit tests
pass in-memory adapters; `build_kafka_app(settings, kafka)` is the one place
that wires the real Kafka publisher and idempotency store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from homeward.audit import Auditor
from homeward.auth.jwt_verifier import OidcVerifierSettings, TokenVerifier
from homeward.errors import PublishUnavailable
from homeward.http import observe
from homeward.http.docs import install_offline_docs
from homeward.http.errors import audit_refusals, error_response, refuse
from homeward.http.errors import install_error_handlers as install_shared_handlers
from homeward.http.guard import RequestGuard
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_intake import routes, routes_cases, routes_health, routes_reports
from homeward_intake.alert_view import KafkaAlertView
from homeward_intake.answers import (
    IllegalTransition,
    InvalidAnswer,
    ReferralNotFound,
    ReferralsUnavailable,
    WrongAgency,
)
from homeward_intake.handlers import AlertsUnavailable, IdempotencyConflict, Intake
from homeward_intake.idempotency import KEY_HEADER
from homeward_intake.idempotency_kafka import KafkaIdempotencyStore
from homeward_intake.publisher import KafkaPublisher
from homeward_intake.referral_view_kafka import KafkaReferralView
from homeward_intake.routes_cases import TimelineSource
from homeward_intake.settings import IntakeSettings
from homeward_timeline.query import TimelineQuery, TimelineUnavailable

log = logging.getLogger(__name__)

DESCRIPTION = """\
Police systems put missing-child alerts, updates, sightings, cancellations,
rescues and DNA comparisons on the Homeward bus here; agencies answer the
referrals offered to them; mandatory reporters file reports and police
acknowledge them; hospitals record admissions, deliveries, birth certificates
and discharges. Every accepted request is one Avro event on Kafka
(CloudEvents headers, key = case or report id; a health record's key is
the person's id number), on the topic its type goes
to, before the 202 is sent. A case's timeline reads them back.

Send an `Idempotency-Key` header and retry freely: the same key and body get
the same answer and never a second event.
"""


def _auditor_of(request: Request) -> Auditor | None:
    intake: Intake | None = getattr(request.app.state, "intake", None)
    return intake.auditor if intake is not None else None


audit_refusal = audit_refusals("intake", _auditor_of)


def _unavailable_message(exc: PublishUnavailable) -> str:
    # Not "nothing was published": an acknowledgement can be lost after the
    # write. A retry with the same key is safe either way.
    return (
        f"the alert bus is unavailable and the request was not confirmed; retry "
        f"with the same {KEY_HEADER}, which is never accepted twice: {exc.reason}"
    )


def install_error_handlers(app: FastAPI) -> None:
    """The shared contract (homeward.http.errors) plus intake's own refusals."""
    install_shared_handlers(app, audit_refusal, unavailable_message=_unavailable_message)

    refuse(app, IdempotencyConflict, 409, "idempotency_conflict", audit_refusal)
    refuse(app, InvalidAnswer, 422, "invalid_request", audit_refusal)
    refuse(app, ReferralNotFound, 404, "not_found", audit_refusal)
    refuse(app, WrongAgency, 409, "wrong_agency", audit_refusal)
    refuse(
        app,
        IllegalTransition,
        409,
        "illegal_transition",
        audit_refusal,
        extra=lambda exc: {"allowed": exc.allowed},
    )

    @app.exception_handler(ReferralsUnavailable)
    @app.exception_handler(AlertsUnavailable)
    @app.exception_handler(TimelineUnavailable)
    async def on_log_unavailable(_: Request, exc: Exception) -> JSONResponse:
        reason = getattr(exc, "reason", str(exc))
        return error_response(
            503, "unavailable", [{"field": None, "reason": reason}], headers={"Retry-After": "1"}
        )


class Connector:
    """Starts the intake in the background, retrying until Kafka is there.

    The HTTP server comes up at once (liveness), while readiness waits for the
    producer, the idempotency log and the referral log; a broker that is down
    at start is waited for, not a reason to crash-loop.
    """

    def __init__(self, intake: Intake, backoff: tuple[float, float] = (0.5, 10.0)) -> None:
        self.intake = intake
        self.backoff = backoff
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="intake-connector", daemon=True)

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self.stop.is_set():
            try:
                self.intake.start()
                log.info("intake connected: producer up, idempotency and referral logs read")
                return
            except Exception as exc:  # any failure is retried and logged
                log.warning("waiting for Kafka (retry in %.1fs): %s", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, self.backoff[1])


def create_app(
    intake: Intake,
    settings: IntakeSettings | None = None,
    timeline: TimelineSource | None = None,
    *,
    verifier: TokenVerifier,
) -> FastAPI:
    """The app over `intake`; `timeline` answers the timeline route (absent: 503);
    `verifier` checks every caller's bearer token (there is no way to run without)."""
    settings = settings or IntakeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        connector = Connector(intake)
        connector.thread.start()
        app.state.connector = connector
        try:
            yield
        finally:
            connector.stop.set()
            connector.thread.join(timeout=5)
            intake.close()

    app = FastAPI(
        title="Homeward intake",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's own pages load a CDN: blank on a closed network.
        docs_url=None,
        redoc_url=None,
    )
    install_offline_docs(app)
    app.state.intake = intake
    app.state.settings = settings
    app.state.timeline = timeline
    app.state.verifier = verifier
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    observe.install(app, "intake", intake.ready)  # after the guard: its refusals are counted too
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(routes_cases.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_health.router)
    return app


def build_kafka_app(
    settings: IntakeSettings,
    kafka: KafkaSettings,
    *,
    auditor: Auditor,
    oidc: OidcVerifierSettings | None = None,
) -> FastAPI:
    verifier = TokenVerifier(oidc or OidcVerifierSettings())
    topology = current_topology()
    publisher = KafkaPublisher(
        kafka,
        topology,
        timeout_seconds=settings.publish_timeout_seconds,
        connect_timeout_seconds=settings.startup_timeout_seconds,
    )
    store = KafkaIdempotencyStore(
        kafka,
        topology.get("intake_requests").name,
        publisher,
        ttl_seconds=settings.idempotency_ttl_seconds,
        startup_timeout_seconds=settings.startup_timeout_seconds,
    )
    referrals = KafkaReferralView(
        kafka,
        topology.get("referral_events").name,
        startup_timeout_seconds=settings.startup_timeout_seconds,
    )
    alerts = KafkaAlertView(
        kafka,
        topology.get("alert_events").name,
        startup_timeout_seconds=settings.startup_timeout_seconds,
    )
    intake = Intake(
        publisher,
        store,
        source_name=settings.source_name,
        sync_timeout_seconds=settings.sync_timeout_seconds,
        referrals=referrals,
        alerts=alerts,
        auditor=auditor,
    )
    timeline = TimelineQuery(kafka, topology, timeout_seconds=settings.timeline_timeout_seconds)
    return create_app(intake, settings, timeline, verifier=verifier)
