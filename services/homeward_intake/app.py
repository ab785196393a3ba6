"""The composition root: builds the FastAPI app from its dependencies.

`create_app(intake, settings)` takes a ready-made handlers.Intake, so unit tests
pass in-memory adapters; `build_kafka_app(settings, kafka)` is the one place
that wires the real Kafka publisher and idempotency store.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from homeward.alert_lifecycle import AlertTransitionError, allowed_steps
from homeward.audit import AuditEntry, Auditor, AuditOutcome
from homeward.auth import Forbidden
from homeward.auth.jwt_verifier import OidcVerifierSettings, TokenVerifier, Unauthenticated
from homeward.errors import CodecError, ValidationError
from homeward.http_docs import install_offline_docs
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward_intake import observe, routes, routes_cases, routes_health, routes_reports
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
from homeward_intake.middleware import RequestGuard, error_response
from homeward_intake.publisher import KafkaPublisher, PublishUnavailable
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

HTTP_CODES = {
    400: "invalid_json",
    401: "invalid_token",  # RFC 6750's error codes
    403: "insufficient_scope",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """Pydantic's error location as the dotted field name a client knows.

    ("body", "child", "age_years") -> "child.age_years"; ("header", "Idempotency-Key")
    -> "Idempotency-Key"; ("path", "case_id") -> "case_id"; ("body",) -> "body".
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "header", "path", "query"}:
        parts = parts[1:] or parts[:1]
    return ".".join(parts) or "body"


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            pos = err["loc"][1] if len(err["loc"]) > 1 else "?"
            reason = f"is not valid JSON ({detail} at character {pos})"
            out.append({"field": "body", "reason": reason})
        else:
            # Only the field and the reason: the input is never echoed back, as it
            # may hold a child's details.
            out.append({"field": field_of(err["loc"]), "reason": str(err.get("msg", "invalid"))})
    return out


def audit_refusal(request: Request, status: int, field: str | None, reason: str) -> None:
    """Every refusal is on the record, with the principal when it is known, so a
    probing client shows up. Never the request's content: the rule and the field."""
    intake: Intake | None = getattr(request.app.state, "intake", None)
    if intake is None:
        return
    principal = getattr(request.state, "principal", None)
    entry = AuditEntry(
        entry_id=f"refusal:{uuid.uuid4()}",
        at=datetime.now(UTC),
        service="intake",
        action=getattr(request.state, "action", "") or f"{request.method} {_route(request)}",
        outcome=AuditOutcome.REFUSED,
        principal=principal.name if principal else "",
        subject=principal.subject if principal else "",
        agency_id=principal.agency_id if principal else "",
        case_id=str(request.path_params.get("case_id", "")),
        status=status,
        reason=f"{field}: {reason}"[:500] if field else reason[:500],
        detail={"path": _route(request)},
    )
    try:
        intake.auditor.record(entry)
    except Exception:  # the refusal stands; losing its record is logged, not fatal
        log.warning("could not audit a %d refusal", status, exc_info=True)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        bad_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        status = 400 if bad_json else 422
        errors = validation_errors(exc)
        audit_refusal(request, status, errors[0]["field"] if errors else None, "invalid")
        return error_response(status, HTTP_CODES[status], errors)

    @app.exception_handler(Unauthenticated)
    async def on_unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        audit_refusal(request, 401, exc.field, exc.reason)
        # RFC 6750: the challenge says which error; the body names the field.
        desc = f"{exc.field}: {exc.reason}".replace('"', "'") if exc.field else exc.reason
        return error_response(
            401,
            "invalid_token",
            [{"field": exc.field, "reason": exc.reason}],
            headers={
                "WWW-Authenticate": f'Bearer realm="homeward", error="invalid_token", '
                f'error_description="{desc}"'
            },
        )

    @app.exception_handler(Forbidden)
    async def on_forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        audit_refusal(request, 403, exc.field, exc.reason)
        return error_response(
            403,
            "insufficient_scope",
            [{"field": exc.field, "reason": exc.reason}],
            headers={"WWW-Authenticate": 'Bearer realm="homeward", error="insufficient_scope"'},
        )

    @app.exception_handler(AlertTransitionError)
    async def on_alert_step(request: Request, exc: AlertTransitionError) -> JSONResponse:
        audit_refusal(request, 409, exc.field, exc.reason)
        return error_response(
            409,
            "illegal_transition",
            [{"field": exc.field, "reason": exc.reason}],
            extra={
                "state": exc.state.value if exc.state else None,
                "allowed": allowed_steps(exc.state),
            },
        )

    @app.exception_handler(ValidationError)
    async def on_invalid_field(request: Request, exc: ValidationError) -> JSONResponse:
        audit_refusal(request, 422, exc.field, exc.reason)
        return error_response(422, "invalid_request", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        # FastAPI's own 400 is "There was an error parsing the body" (e.g. not UTF-8).
        field = "body" if exc.status_code == 400 else None
        return error_response(
            exc.status_code,
            code,
            [{"field": field, "reason": str(exc.detail)}],
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IdempotencyConflict)
    async def on_conflict(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        audit_refusal(request, 409, exc.field, exc.reason)
        return error_response(
            409, "idempotency_conflict", [{"field": exc.field, "reason": exc.reason}]
        )

    @app.exception_handler(InvalidAnswer)
    async def on_invalid_answer(request: Request, exc: InvalidAnswer) -> JSONResponse:
        audit_refusal(request, 422, exc.field, exc.reason)
        return error_response(422, "invalid_request", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(ReferralNotFound)
    async def on_no_referral(request: Request, exc: ReferralNotFound) -> JSONResponse:
        audit_refusal(request, 404, exc.field, exc.reason)
        return error_response(404, "not_found", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(WrongAgency)
    async def on_wrong_agency(request: Request, exc: WrongAgency) -> JSONResponse:
        audit_refusal(request, 409, exc.field, exc.reason)
        return error_response(409, "wrong_agency", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(IllegalTransition)
    async def on_illegal(request: Request, exc: IllegalTransition) -> JSONResponse:
        audit_refusal(request, 409, exc.field, exc.reason)
        return error_response(
            409,
            "illegal_transition",
            [{"field": exc.field, "reason": exc.reason}],
            extra={"allowed": exc.allowed},
        )

    @app.exception_handler(ReferralsUnavailable)
    @app.exception_handler(AlertsUnavailable)
    @app.exception_handler(TimelineUnavailable)
    async def on_log_unavailable(_: Request, exc: Exception) -> JSONResponse:
        reason = getattr(exc, "reason", str(exc))
        return error_response(
            503, "unavailable", [{"field": None, "reason": reason}], headers={"Retry-After": "1"}
        )

    @app.exception_handler(CodecError)
    async def on_codec(request: Request, exc: CodecError) -> JSONResponse:
        # Valid by the model but not by the Avro schema: nothing was published.
        audit_refusal(request, 422, exc.field, exc.reason)
        return error_response(422, "invalid_request", [{"field": exc.field, "reason": exc.reason}])

    @app.exception_handler(PublishUnavailable)
    async def on_unavailable(_: Request, exc: PublishUnavailable) -> JSONResponse:
        return error_response(
            503,
            "unavailable",
            [{"field": None, "reason": exc.reason}],
            # Not "nothing was published": an acknowledgement can be lost after the
            # write. A retry with the same key is safe either way.
            message=f"the alert bus is unavailable and the request was not confirmed; retry "
            f"with the same {KEY_HEADER}, which is never accepted twice: {exc.reason}",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def on_bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", [{"field": None, "reason": "internal error"}])


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
    observe.install(app, intake.ready)  # after the guard: its refusals are counted too
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
