"""Police's view of the health-record anomalies the detector raises on
police.anomalies.v1 (police_only.read; every read is on the audit record)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from homeward.auth import Action
from homeward.http.auth import Caller, authorize
from homeward.http.responses import UNAVAILABLE, Responses, error
from homeward_gateway.routes_inbox import READ, gateway_of
from homeward_gateway.store import MAX_LIMIT
from homeward_gateway.views import AnomalyView

router = APIRouter(prefix="/v1", tags=["anomalies"])


# Every read is audited first: an audit record Kafka does not confirm is a 503.
AUDITED: Responses = {**READ, **UNAVAILABLE}


@router.get(
    "/anomalies", summary="Health-record anomalies, newest first (police)", responses=AUDITED
)
def anomalies(
    request: Request,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> list[AnomalyView]:
    authorize(request, caller, Action.POLICE_ONLY_READ)
    return [AnomalyView.of(a) for a in gateway_of(request).anomalies(caller, limit)]


@router.get(
    "/anomalies/{anomaly_id}",
    summary="One health-record anomaly (police)",
    responses={**AUDITED, 404: error("not_found: no such anomaly")},
)
def anomaly(request: Request, caller: Caller, anomaly_id: str) -> AnomalyView:
    authorize(request, caller, Action.POLICE_ONLY_READ)
    return AnomalyView.of(gateway_of(request).anomaly(caller, anomaly_id))
