"""Mandatory reports: filing one (teachers, medical staff, registrars,
transport, hotel and venue staff, village committees) and police
acknowledging it. Both go to police.reports.v1, keyed by the report id (in
the events' case_id field); thin over handlers.Intake like routes.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from homeward.auth import Action
from homeward.events import MandatoryReportFiled, ReportAcknowledged
from homeward.http.auth import Caller, needs, own_agency
from homeward_intake.idempotency import report_id_for
from homeward_intake.models import (
    CASE_ID_MAX,
    CASE_ID_PATTERN,
    Accepted,
    ReportAccepted,
    ReportAckRequest,
    ReportRequest,
)
from homeward_intake.routes import (
    ERRORS,
    IdempotencyKey,
    IntakeDep,
    accept,
    hashed,
    plain,
    with_case,
)

router = APIRouter()

ReportId = Annotated[
    str,
    Path(min_length=1, max_length=CASE_ID_MAX, pattern=CASE_ID_PATTERN, description="The report."),
]


@router.post(
    "/v1/reports",
    dependencies=[needs(Action.REPORT_FILE)],
    status_code=202,
    response_model=ReportAccepted,
    responses=ERRORS,
    summary="File a mandatory report of suspected trafficking (routed to police only)",
    tags=["reports"],
)
def file_report(
    body: ReportRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    fields = plain(body)
    report_id = fields.pop("report_id") or report_id_for(
        idempotency_key, MandatoryReportFiled.ce_type(), hashed(body)
    )
    event = MandatoryReportFiled.model_validate({**fields, "case_id": report_id})
    return accept(
        intake,
        event,
        body,
        idempotency_key,
        caller=caller,
        action=Action.REPORT_FILE,
        extra={"report_id": report_id},
    )


@router.post(
    "/v1/reports/{report_id}/acknowledgement",
    dependencies=[needs(Action.REPORT_ACKNOWLEDGE)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Acknowledge a mandatory report (police)",
    tags=["reports"],
)
def acknowledge_report(
    report_id: ReportId,
    body: ReportAckRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    event = with_case(ReportAcknowledged, report_id, body)
    own_agency(caller, event.agency_id, "agency_id")  # type: ignore[attr-defined]
    return accept(
        intake, event, body, idempotency_key, caller=caller, action=Action.REPORT_ACKNOWLEDGE
    )
