"""HTTP routes: versioned paths, one per use case, thin over handlers.Intake.
This module holds the alert routes, the probes and what every route shares;
routes_cases.py (rescues, DNA, referrals, the timeline) and routes_reports.py
(mandatory reports) hold the rest.

The endpoints are plain `def`: publishing blocks until Kafka acknowledges, and
FastAPI runs sync endpoints in its thread pool, so a slow broker never stalls
the event loop (or /healthz).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from homeward.alert_lifecycle import AlertStep
from homeward.audit import AuditEntry, AuditOutcome
from homeward.auth import Action, Forbidden, Principal
from homeward.errors import ValidationError
from homeward.events import AlertCancelled, AlertIssued, AlertUpdated, Event, SightingReported
from homeward.http.auth import Caller, actor_of, allowed, needs
from homeward.http.responses import AUTH, BODY, REFUSED, error
from homeward_intake.handlers import Intake, Outcome
from homeward_intake.idempotency import KEY_HEADER, KEY_MAX
from homeward_intake.models import (
    CASE_ID_MAX,
    CASE_ID_PATTERN,
    Accepted,
    AlertIssueRequest,
    AlertUpdateRequest,
    CancellationRequest,
    SightingRequest,
)

REPLAYED_HEADER = "Idempotent-Replayed"

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH,
    **BODY,
    409: error(
        f"{KEY_HEADER} reused for a different request, or a step the alert's lifecycle "
        "does not allow (a second alert for a case, an update after the end)."
    ),
    422: error("Fields are missing or invalid; each is named."),
    **REFUSED,
    503: error("Kafka is unavailable; retry with the same key."),
}


async def get_intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(get_intake)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=KEY_HEADER,
        min_length=1,
        max_length=KEY_MAX,
        description="Makes retries safe: the same key and body get the same answer and "
        "publish nothing more. One key per logical request (a UUID is a good choice).",
    ),
]
CaseId = Annotated[
    str,
    Path(min_length=1, max_length=CASE_ID_MAX, pattern=CASE_ID_PATTERN, description="The case."),
]


def answer(outcome: Outcome) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else None
    return JSONResponse(outcome.answer, status_code=202, headers=headers)


def hashed(body: BaseModel, **path: str) -> dict[str, Any]:
    """The request as hashed for idempotency: the body and the path's ids.

    exclude_defaults: a field sent with its default value and a field left out
    are the same request, and a field with a default added in a later release
    does not change the hash, so a retry across an upgrade is still a retry.
    The path's ids (beyond the case, which is hashed anyway) are part of it: one
    key sent for two referrals is two requests, a conflict, not a replay."""
    dumped: dict[str, Any] = body.model_dump(mode="json", exclude_defaults=True)
    return {**dumped, **path}


def accept(
    intake: Intake,
    event: Event,
    body: BaseModel,
    key: str | None,
    *,
    caller: Principal,
    action: Action,
    extra: dict[str, Any] | None = None,
    step: AlertStep | None = None,
) -> JSONResponse:
    """Publish `event` as the caller's: its actor is the token's, never the body's.
    With `step`, it is a step of an alert's life, checked against the alert log."""
    event, hashed_body = as_caller(event, caller), hashed(body)
    if step is not None:
        return answer(
            intake.accept_alert_step(
                event, hashed_body, key, principal=caller, action=action.value, step=step
            )
        )
    return answer(
        intake.accept(event, hashed_body, key, principal=caller, action=action.value, extra=extra)
    )


def as_caller(event: Event, caller: Principal) -> Event:
    if event.actor is not None:
        raise ValidationError("is set by the bearer token, not by the request", field="actor")
    return event.model_copy(update={"actor": actor_of(caller)})


# A clock a few minutes fast at a police station is not a report from the future.
CLOCK_SKEW = timedelta(minutes=5)


def not_in_future(value: datetime | None, field: str) -> None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValidationError("is in the future", field=field)


def new_case_id(agency_id: str, key: str | None) -> str:
    """A case id inside the issuing agency's namespace. From the Idempotency-Key
    when there is one, so a retry names the same case."""
    seed = key or uuid.uuid4().hex
    digest = hashlib.sha256(f"{agency_id}\n{seed}".encode()).hexdigest()[:12]
    return f"{agency_id}-{datetime.now(UTC):%Y%m%d}-{digest}"


def plain(body: BaseModel) -> dict[str, Any]:
    """The validated body as Python values (for building the event from it)."""
    return body.model_dump()


def with_case(event_cls: type[Event], case_id: str, body: BaseModel) -> Event:
    return event_cls.model_validate({**body.model_dump(), "case_id": case_id})


@router.post(
    "/v1/alerts",
    dependencies=[needs(Action.ALERT_ISSUE)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Issue a missing-child alert",
    tags=["alerts"],
)
def issue_alert(
    body: AlertIssueRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    fields = plain(body)
    if fields["public_summary"] and not allowed(caller, Action.ALERT_RELEASE_PUBLIC):
        # Media and online platforms publish it: a supervisor's decision.
        raise Forbidden(
            "releasing a public summary needs alert.release_public (a supervisor); send it "
            "empty to reach agencies only",
            field="public_summary",
        )
    not_in_future(fields["last_seen_at"], "last_seen_at")
    case_id = fields.pop("case_id") or new_case_id(caller.agency_id, idempotency_key)
    if not case_id.startswith(f"{caller.agency_id}-"):
        raise ValidationError(
            f"must start with {caller.agency_id}- (the issuing agency's own namespace), or "
            "be left out for intake to assign one",
            field="case_id",
        )
    event = AlertIssued.model_validate({**fields, "case_id": case_id})
    return accept(
        intake,
        event,
        body,
        idempotency_key,
        caller=caller,
        action=Action.ALERT_ISSUE,
        step=AlertStep.ISSUE,
    )


@router.post(
    "/v1/alerts/{case_id}/updates",
    dependencies=[needs(Action.ALERT_UPDATE)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Add information to an alert",
    tags=["alerts"],
)
def update_alert(
    case_id: CaseId,
    body: AlertUpdateRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return accept(
        intake,
        with_case(AlertUpdated, case_id, body),
        body,
        idempotency_key,
        caller=caller,
        action=Action.ALERT_UPDATE,
        step=AlertStep.UPDATE,
    )


@router.post(
    "/v1/alerts/{case_id}/sightings",
    dependencies=[needs(Action.ALERT_SIGHTING)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Report a sighting",
    tags=["alerts"],
)
def report_sighting(
    case_id: CaseId,
    body: SightingRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    not_in_future(body.seen_at, "seen_at")  # type: ignore[attr-defined]
    return accept(
        intake,
        with_case(SightingReported, case_id, body),
        body,
        idempotency_key,
        caller=caller,
        action=Action.ALERT_SIGHTING,
        step=AlertStep.SIGHTING,
    )


@router.post(
    "/v1/alerts/{case_id}/cancellation",
    dependencies=[needs(Action.ALERT_CANCEL)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Cancel or resolve an alert (FOUND, FALSE_REPORT, WITHDRAWN)",
    tags=["alerts"],
)
def cancel_alert(
    case_id: CaseId,
    body: CancellationRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return accept(
        intake,
        with_case(AlertCancelled, case_id, body),
        body,
        idempotency_key,
        caller=caller,
        action=Action.ALERT_CANCEL,
        step=AlertStep.CANCEL,
    )


@router.get("/healthz", tags=["operations"], summary="Liveness: the process serves HTTP")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["operations"],
    summary="Readiness: connected to Kafka, the idempotency and referral logs read",
    responses={503: {"description": "Not ready yet"}},
)
async def readyz(intake: IntakeDep) -> JSONResponse:
    reasons = intake.not_ready_reasons()
    body = {
        "status": "not_ready" if reasons else "ready",
        "producer": "producer" not in reasons,
        "idempotency_log": "idempotency_log" not in reasons,
        "referral_log": "referral_log" not in reasons,
        "alert_log": "alert_log" not in reasons,
        "reasons": reasons,
    }
    return JSONResponse(body, status_code=503 if reasons else 200)


def audit_read(
    request: Request,
    intake: Intake,
    caller: Principal,
    action: Action,
    case_id: str,
    **detail: str,
) -> None:
    """A read of police-only or victim data goes on the record before it is answered."""
    intake.auditor.record(
        AuditEntry(
            entry_id=f"read:{uuid.uuid4()}",
            at=datetime.now(UTC),
            service="intake",
            action=action.value,
            outcome=AuditOutcome.READ,
            principal=caller.name,
            subject=caller.subject,
            agency_id=caller.agency_id,
            case_id=case_id,
            status=200,
            detail={"path": request.url.path, **detail},
        )
    )
