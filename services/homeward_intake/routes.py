"""HTTP routes: versioned paths, one per use case, thin over handlers.Intake.
This module holds the alert routes, the probes and what every route shares;
routes_cases.py (rescues, DNA, referrals, the timeline) and routes_reports.py
(mandatory reports) hold the rest.

The endpoints are plain `def`: publishing blocks until Kafka acknowledges, and
FastAPI runs sync endpoints in its thread pool, so a slow broker never stalls
the event loop (or /healthz).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from homeward.events import AlertCancelled, AlertIssued, AlertUpdated, Event, SightingReported
from homeward_intake.handlers import Intake, Outcome
from homeward_intake.idempotency import KEY_HEADER, KEY_MAX
from homeward_intake.models import (
    CASE_ID_MAX,
    CASE_ID_PATTERN,
    Accepted,
    AlertUpdateRequest,
    CancellationRequest,
    ErrorBody,
    SightingRequest,
)

REPLAYED_HEADER = "Idempotent-Replayed"

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid JSON."},
    409: {"model": ErrorBody, "description": f"{KEY_HEADER} reused for a different request."},
    413: {"model": ErrorBody, "description": "The body is over the size cap."},
    415: {"model": ErrorBody, "description": "The body is not application/json."},
    422: {"model": ErrorBody, "description": "Fields are missing or invalid; each is named."},
    503: {"model": ErrorBody, "description": "Kafka is unavailable; retry with the same key."},
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
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    return answer(intake.accept(event, hashed(body), key, extra=extra))


def plain(body: BaseModel) -> dict[str, Any]:
    """The validated body as Python values (for building the event from it)."""
    return body.model_dump()


def with_case(event_cls: type[Event], case_id: str, body: BaseModel) -> Event:
    return event_cls.model_validate({**body.model_dump(), "case_id": case_id})


@router.post(
    "/v1/alerts",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Issue a missing-child alert",
    tags=["alerts"],
)
def issue_alert(
    body: AlertIssued, intake: IntakeDep, idempotency_key: IdempotencyKey = None
) -> Any:
    return accept(intake, body, body, idempotency_key)


@router.post(
    "/v1/alerts/{case_id}/updates",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Add information to an alert",
    tags=["alerts"],
)
def update_alert(
    case_id: CaseId,
    body: AlertUpdateRequest,  # type: ignore[valid-type]
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return accept(intake, with_case(AlertUpdated, case_id, body), body, idempotency_key)


@router.post(
    "/v1/alerts/{case_id}/sightings",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Report a sighting",
    tags=["alerts"],
)
def report_sighting(
    case_id: CaseId,
    body: SightingRequest,  # type: ignore[valid-type]
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return accept(intake, with_case(SightingReported, case_id, body), body, idempotency_key)


@router.post(
    "/v1/alerts/{case_id}/cancellation",
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Cancel or resolve an alert (FOUND, FALSE_REPORT, WITHDRAWN)",
    tags=["alerts"],
)
def cancel_alert(
    case_id: CaseId,
    body: CancellationRequest,  # type: ignore[valid-type]
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return accept(intake, with_case(AlertCancelled, case_id, body), body, idempotency_key)


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
    ready = intake.ready()
    body = {
        "status": "ready" if ready else "not_ready",
        "producer": intake.publisher.ready(),
        "idempotency_log": intake.store.ready(),
        "referral_log": intake.referrals.ready(),
    }
    return JSONResponse(body, status_code=200 if ready else 503)
