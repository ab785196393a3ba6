"""Routes after the alert: rescues, DNA comparisons, answers to referrals, a
referral's state, case outcomes (procuratorate, court) and the case timeline. Thin over handlers.Intake, like
routes.py, with the same error body and Idempotency-Key behaviour."""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Path, Request

from homeward.auth import Action, Forbidden
from homeward.errors import ValidationError
from homeward.events import (
    CaseOutcomeRecorded,
    DnaComparisonRecorded,
    ReferralAnswered,
    RescueNotified,
)
from homeward.events.cases import AUTHORITY_OF
from homeward.http.auth import Caller, allowed, authorize, needs, own_agency
from homeward.http.responses import AUTH, ErrorBody
from homeward_intake.answers import ReferralNotFound, agency_next
from homeward_intake.models import (
    CASE_ID_MAX,
    CASE_ID_PATTERN,
    Accepted,
    CaseOutcomeRequest,
    DnaComparisonRequest,
    ReferralAnswerRequest,
    ReferralState,
)
from homeward_intake.routes import (
    ERRORS,
    CaseId,
    IdempotencyKey,
    IntakeDep,
    accept,
    answer,
    as_caller,
    audit_read,
    hashed,
    plain,
    with_case,
)
from homeward_timeline.query import Timeline, TimelineUnavailable

router = APIRouter()

ReferralId = Annotated[
    str,
    Path(
        min_length=1, max_length=CASE_ID_MAX, pattern=CASE_ID_PATTERN, description="The referral."
    ),
]
ANSWER_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    404: {"model": ErrorBody, "description": "No such referral in the router's log (not_found)."},
    409: {
        "model": ErrorBody,
        "description": "illegal_transition (the lifecycle does not allow the step from the "
        "referral's status; `allowed` lists what may come next), wrong_agency (the referral "
        "is not offered to this agency) or idempotency_conflict.",
    },
    422: {
        "model": ErrorBody,
        "description": "Fields are missing or invalid; each is named. A rejected or failed "
        "answer needs a coded `reason`, a completed one an `outcome`.",
    },
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH,
    404: {"model": ErrorBody, "description": "No such referral in the router's log."},
    422: {"model": ErrorBody, "description": "An id in the path is invalid."},
    503: {"model": ErrorBody, "description": "The log could not be read up to now; retry."},
}


class TimelineSource(Protocol):
    def __call__(
        self, case_id: str, *, police: bool = False, judicial: bool = False
    ) -> Timeline: ...


@router.post(
    "/v1/rescues",
    dependencies=[needs(Action.RESCUE_REPORT)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Notify a rescue (police-only: the person, the place, any DNA sample)",
    tags=["rescues"],
)
def notify_rescue(
    body: RescueNotified,
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    if body.closes_alert:  # closing the alert as found is a step of the alert's own
        authorize(request, caller, Action.ALERT_CANCEL)
    return accept(intake, body, body, idempotency_key, caller=caller, action=Action.RESCUE_REPORT)


@router.post(
    "/v1/cases/{case_id}/dna-comparisons",
    dependencies=[needs(Action.DNA_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Record a DNA comparison (police-only)",
    tags=["rescues"],
)
def record_dna_comparison(
    case_id: CaseId,
    body: DnaComparisonRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    event = with_case(DnaComparisonRecorded, case_id, body)
    return accept(intake, event, body, idempotency_key, caller=caller, action=Action.DNA_RECORD)


@router.post(
    "/v1/cases/{case_id}/outcomes",
    dependencies=[needs(Action.CASE_OUTCOME_RECORD)],
    status_code=202,
    response_model=Accepted,
    responses=ERRORS,
    summary="Record a prosecution or court decision on a case (police-only)",
    tags=["cases"],
)
def record_case_outcome(
    case_id: CaseId,
    body: CaseOutcomeRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The deciding agency is the caller's own; each stage is its authority's alone
    (whether to prosecute the procuratorate's, the trial and judgement the court's)."""
    stage = body.stage  # type: ignore[attr-defined]
    if AUTHORITY_OF[stage] != caller.agency_type.value:
        raise Forbidden(
            f"{stage!r} is decided by the {AUTHORITY_OF[stage]}; {caller.agency_id} is a "
            f"{caller.agency_type.value}",
            field="stage",
        )
    if (stage == "judgement") != (body.result is not None):  # type: ignore[attr-defined]
        raise ValidationError("result is given with a judgement, and only with one", field="result")
    event = CaseOutcomeRecorded.model_validate(
        {
            **body.model_dump(),
            "case_id": case_id,
            "authority_id": caller.agency_id,
            "authority_type": caller.agency_type.value,
        }
    )
    return accept(
        intake, event, body, idempotency_key, caller=caller, action=Action.CASE_OUTCOME_RECORD
    )


@router.post(
    "/v1/referrals/{case_id}/{referral_id}/answers",
    dependencies=[needs(Action.REFERRAL_ANSWER)],
    status_code=202,
    response_model=Accepted,
    responses=ANSWER_ERRORS,
    summary="Answer a referral (the agency it is offered to): a FHIR Task status",
    tags=["referrals"],
)
def answer_referral(
    case_id: CaseId,
    referral_id: ReferralId,
    body: ReferralAnswerRequest,  # type: ignore[valid-type]
    request: Request,
    caller: Caller,
    intake: IntakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    event = ReferralAnswered.model_validate(
        {**plain(body), "case_id": case_id, "referral_id": referral_id}
    )
    own_agency(caller, event.agency_id, "agency_id")
    return answer(
        intake.answer_referral(
            as_caller(event, caller),
            hashed(body, referral_id=referral_id),
            idempotency_key,
            principal=caller,
        )
    )


@router.get(
    "/v1/referrals/{case_id}/{referral_id}",
    dependencies=[needs(Action.REFERRAL_READ)],
    response_model=ReferralState,
    responses=READ_ERRORS,
    summary="A referral's current status, agency and offer, as the router recorded it",
    tags=["referrals"],
)
def get_referral(
    case_id: CaseId, referral_id: ReferralId, request: Request, caller: Caller, intake: IntakeDep
) -> Any:
    state, pending = intake.referral(case_id, referral_id)
    overseer = caller.is_police or allowed(caller, Action.TIMELINE_READ)
    if state is None or not (overseer or state.agency_id == caller.agency_id):
        # Another agency's referral is "not found", not "forbidden": ids are not probed.
        raise ReferralNotFound(f"no referral {referral_id} in case {case_id}", field="referral_id")
    audit_read(request, intake, caller, Action.REFERRAL_READ, case_id, referral_id=referral_id)
    return ReferralState(
        case_id=state.case_id,
        referral_id=state.referral_id,
        rule_id=state.rule_id,
        agency_id=state.agency_id,
        agency_type=state.agency_type,
        offer=state.offer,
        status=state.status,
        reason=state.reason,
        outcome=state.outcome,
        changed_at=state.changed_at,
        allowed_answers=agency_next(state.status),
        pending_answer=pending.status if pending is not None else None,
    )


@router.get(
    "/v1/cases/{case_id}/timeline",
    dependencies=[needs(Action.TIMELINE_READ)],
    response_model=Timeline,
    responses={k: v for k, v in READ_ERRORS.items() if k != 404},
    summary="Every event of a case, in order, alert to referrals",
    tags=["timeline"],
)
def case_timeline(case_id: CaseId, request: Request, caller: Caller, intake: IntakeDep) -> Any:
    """Police-only entries show their summaries only to a principal with
    police_only.read (case outcomes also to the procuratorate and the court,
    case.outcome.record); to everyone else, their type and time only."""
    # A plain def: FastAPI runs it in the thread pool, so reading the partitions
    # never blocks the event loop.
    source: TimelineSource | None = request.app.state.timeline
    if source is None:
        raise TimelineUnavailable("no timeline source is configured", field=None)
    police = allowed(caller, Action.POLICE_ONLY_READ)
    # The procuratorate and the court see the outcomes they put on the case.
    judicial = allowed(caller, Action.CASE_OUTCOME_RECORD)
    timeline = source(case_id, police=police, judicial=judicial)
    audit_read(
        request,
        intake,
        caller,
        Action.TIMELINE_READ,
        case_id,
        police=str(police),
        judicial=str(judicial),
    )
    return timeline
