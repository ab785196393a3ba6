"""Police's report desk over HTTP: the mandatory reports filed on
police.reports.v1 and their acknowledgement (the SDK's ReportDesk), which
stops the router's reporting clock. Police only (report.acknowledge)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request

from homeward.auth import Action
from homeward.http.auth import Caller, authorize
from homeward.http.responses import error
from homeward_gateway.routes_inbox import READ, WRITE, gateway_of
from homeward_gateway.views import AckView, ReportAckAnswer, ReportAckBody, ReportView

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/reports", summary="Mandatory reports filed, newest first (police)", responses=READ)
def reports(request: Request, caller: Caller) -> list[ReportView]:
    authorize(request, caller, Action.REPORT_ACKNOWLEDGE)
    return [ReportView.of(r) for r in gateway_of(request).reports(caller)]


@router.post(
    "/reports/{report_id}/ack",
    summary="Acknowledge a mandatory report (police)",
    description="Publishes the SDK's ReportAcknowledged for your police agency. Idempotent: "
    "a second acknowledgement answers 200 with the first and publishes nothing.",
    responses={**WRITE, 404: error("not_found: no such report")},
)
def acknowledge_report(
    request: Request,
    caller: Caller,
    report_id: str,
    body: Annotated[ReportAckBody | None, Body()] = None,
) -> ReportAckAnswer:
    authorize(request, caller, Action.REPORT_ACKNOWLEDGE)
    body = body or ReportAckBody()
    result = gateway_of(request).acknowledge_report(
        caller, report_id, police_unit=body.police_unit, note=body.note
    )
    ack = AckView.of(result.acknowledgement)
    assert ack is not None
    return ReportAckAnswer(report_id=report_id, acknowledged=ack, repeated=result.repeated)
