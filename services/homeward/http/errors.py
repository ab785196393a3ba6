"""One error contract for every Homeward web service.

Every error body is `{"error": code, "message": line naming fields, "errors":
[{"field", "reason"}], ...documented extras}`; a 401 carries RFC 6750's
challenge. `install_error_handlers` puts the handlers every service shares on
an app (token, roles, validation, codec, alert steps, plain HTTP errors, the
500 of last resort); a service adds its own beside them. Each refusal is handed
to a pluggable hook (`RefusalHook`), which a service points at its auditor with
`audit_refusals`, so a probing client shows up on the record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from homeward.alert_lifecycle import AlertTransitionError, allowed_steps
from homeward.audit import AuditEntry, Auditor, AuditOutcome
from homeward.auth import Forbidden
from homeward.auth.jwt_verifier import Unauthenticated
from homeward.errors import CodecError, PublishRefused, PublishUnavailable, ValidationError

log = logging.getLogger(__name__)

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

# (request, status, field, reason): called for every refusal before it is answered.
RefusalHook = Callable[[Request, int, str | None, str], None]


def error_response(
    status: int,
    error: str,
    errors: list[dict[str, Any]],
    message: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Every error a service sends has this body: a code, a line naming fields, the
    list (and, for some codes, documented extra keys such as `allowed`)."""
    if message is None:
        named = (f"{e['field']}: {e['reason']}" if e["field"] else e["reason"] for e in errors)
        message = "; ".join(named) or error
    body = {"error": error, "message": message, "errors": errors, **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


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


def route_of(request: Request) -> str:
    """The route's template (`/v1/cases/{case_id}`), never the ids in the path."""
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def audit_refusals(service: str, auditor_of: Callable[[Request], Auditor | None]) -> RefusalHook:
    """A hook that puts every refusal on the record, with the principal when it is
    known. Never the request's content: the rule and the field."""

    def record(request: Request, status: int, field: str | None, reason: str) -> None:
        auditor = auditor_of(request)
        if auditor is None:
            return
        principal = getattr(request.state, "principal", None)
        entry = AuditEntry(
            entry_id=f"refusal:{uuid.uuid4()}",
            at=datetime.now(UTC),
            service=service,
            action=getattr(request.state, "action", "") or f"{request.method} {route_of(request)}",
            outcome=AuditOutcome.REFUSED,
            principal=principal.name if principal else "",
            subject=principal.subject if principal else "",
            agency_id=principal.agency_id if principal else "",
            case_id=str(request.path_params.get("case_id", "")),
            status=status,
            reason=f"{field}: {reason}"[:500] if field else reason[:500],
            detail={"path": route_of(request)},
        )
        try:
            auditor.record(entry)
        except Exception:  # the refusal stands; losing its record is logged, not fatal
            log.warning("could not audit a %d refusal", status, exc_info=True)

    return record


def _no_audit(_: Request, __: int, ___: str | None, ____: str) -> None:
    return None


class FieldError(Protocol):
    field: str | None
    reason: str


def refuse(
    app: FastAPI,
    exc_type: type[Exception],
    status: int,
    code: str,
    on_refusal: RefusalHook = _no_audit,
    extra: Callable[[Any], dict[str, Any]] | None = None,
) -> None:
    """Answer `exc_type` (an error naming its field and reason) with `status` and
    `code`, on the refusal record first; `extra` adds fields to the body."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        err: FieldError = exc  # type: ignore[assignment]
        on_refusal(request, status, err.field, err.reason)
        return error_response(
            status,
            code,
            [{"field": err.field, "reason": err.reason}],
            extra=extra(exc) if extra else None,
        )

    app.add_exception_handler(exc_type, handler)


def install_error_handlers(
    app: FastAPI,
    on_refusal: RefusalHook = _no_audit,
    *,
    unavailable_message: Callable[[PublishUnavailable], str] | None = None,
) -> None:
    """The handlers every service shares. `unavailable_message` words the 503 of a
    bus that did not confirm a write (intake names its Idempotency-Key there)."""

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        bad_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        status = 400 if bad_json else 422
        errors = validation_errors(exc)
        on_refusal(request, status, errors[0]["field"] if errors else None, "invalid")
        return error_response(status, HTTP_CODES[status], errors)

    @app.exception_handler(Unauthenticated)
    async def on_unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        on_refusal(request, 401, exc.field, exc.reason)
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
        on_refusal(request, 403, exc.field, exc.reason)
        return error_response(
            403,
            "insufficient_scope",
            [{"field": exc.field, "reason": exc.reason}],
            headers={"WWW-Authenticate": 'Bearer realm="homeward", error="insufficient_scope"'},
        )

    refuse(
        app,
        AlertTransitionError,
        409,
        "illegal_transition",
        on_refusal,
        extra=lambda exc: {
            "state": exc.state.value if exc.state else None,
            "allowed": allowed_steps(exc.state),
        },
    )
    refuse(app, ValidationError, 422, "invalid_request", on_refusal)

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

    # Valid by the model but not by the Avro schema: nothing was published.
    refuse(app, CodecError, 422, "invalid_request", on_refusal)

    @app.exception_handler(PublishRefused)
    async def on_refused(_: Request, exc: PublishRefused) -> JSONResponse:
        # Not a 503 with Retry-After: the broker is up and said no for good; a
        # client retrying would only repeat it. Operators get the alert rule.
        return error_response(
            500,
            "publish_refused",
            [{"field": None, "reason": exc.reason}],
            message=f"Kafka refused the write for good and nothing was published: {exc.reason}",
        )

    @app.exception_handler(PublishUnavailable)
    async def on_unavailable(_: Request, exc: PublishUnavailable) -> JSONResponse:
        message = (
            unavailable_message(exc)
            if unavailable_message
            else f"the bus is unavailable and the request was not confirmed; retry: {exc.reason}"
        )
        return error_response(
            503,
            "unavailable",
            [{"field": None, "reason": exc.reason}],
            message=message,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def on_bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", [{"field": None, "reason": "internal error"}])
