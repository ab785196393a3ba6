"""Hospital records: admissions, deliveries, birth certificates and
discharges, each published to health.records.v1 keyed by the person's id
number (routing.key_for); thin over handlers.Intake like routes.py. The body
is the event itself, its case_id the record's own id (admission id, delivery
id, certificate number, discharge id)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from homeward.auth import Action
from homeward.events import (
    AdmissionRegistered,
    BirthCertificateIssued,
    DeliveryRecorded,
    DischargeRecorded,
)
from homeward.http.auth import Caller, needs, own_agency
from homeward_intake.models import Accepted
from homeward_intake.routes import ERRORS, IdempotencyKey, IntakeDep, accept


def record(body: Any, request: Request, caller: Caller, intake: IntakeDep, key: str | None) -> Any:
    """A hospital records only its own events: a forged record of another
    hospital's could hide an anomaly."""
    own_agency(caller, body.hospital_id, "hospital_id")
    return accept(intake, body, body, key, caller=caller, action=Action.HEALTH_RECORD)


router = APIRouter()


@router.post(
    "/v1/health/admissions",
    dependencies=[needs(Action.HEALTH_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Register an admission with the outcome of its identity check",
    tags=["health"],
)
def register_admission(
    body: AdmissionRegistered,
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return record(body, request, caller, intake, idempotency_key)


@router.post(
    "/v1/health/deliveries",
    dependencies=[needs(Action.HEALTH_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Record a delivery (keyed by the mother's id number)",
    tags=["health"],
)
def record_delivery(
    body: DeliveryRecorded,
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return record(body, request, caller, intake, idempotency_key)


@router.post(
    "/v1/health/birth-certificates",
    dependencies=[needs(Action.HEALTH_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Record a birth certificate issued (case_id: the certificate number)",
    tags=["health"],
)
def issue_birth_certificate(
    body: BirthCertificateIssued,
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return record(body, request, caller, intake, idempotency_key)


@router.post(
    "/v1/health/discharges",
    dependencies=[needs(Action.HEALTH_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Record a discharge (a newborn's: the mother as patient, delivery_id set)",
    tags=["health"],
)
def record_discharge(
    body: DischargeRecorded,
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    return record(body, request, caller, intake, idempotency_key)
