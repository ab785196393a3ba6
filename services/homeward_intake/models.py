"""The HTTP contract: request bodies and the 202 answer (the error body is
homeward.http.responses', shared with the gateway).

Request bodies are derived from the event models, not copied: a field added
to an event (with its constraints) appears in the API, its validation and its
OpenAPI schema at once, and the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from homeward.events import (
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    CaseOutcomeRecorded,
    DnaComparisonRecorded,
    MandatoryReportFiled,
    Outcome,
    ReferralAnswered,
    RejectionReason,
    ReportAcknowledged,
    SightingReported,
    TaskStatus,
)
from homeward.events.alerts import Ident
from homeward.events.base import Event, Model
from homeward.text import check_tree

# The same rule as Event.case_id, for the {case_id} path segment.
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
CASE_ID_MAX = 64


class Request(Model):
    """A request body: besides the event's own constraints, no text in it may
    carry a control, bidirectional-control or lone-surrogate character
    (homeward.text): what police type reaches the public, the agencies'
    consoles and their systems. Checked here, at the edge, not in the event
    models, so reading the bus pays nothing for it."""

    @field_validator("*", mode="after")
    @classmethod
    def _safe_text(cls, value: Any) -> Any:
        return check_tree(value)


def without_case_id(
    event_cls: type[Event],
    name: str,
    doc: str,
    *,
    drop: frozenset[str] = frozenset(),
    add: dict[str, Any] | None = None,
) -> type[Model]:
    """A request model with every field of `event_cls` but case_id (it is in the path),
    actor (the token decides it)
    and those in `drop`, plus those in `add` (name -> (annotation, FieldInfo)).

    It inherits Model's config (extra fields forbidden, strings stripped), its
    check that refuses naive datetimes, and Request's text check.
    """
    fields: dict[str, Any] = {
        fname: (info.annotation, info)
        for fname, info in event_cls.model_fields.items()
        if fname not in {"case_id", "actor"} and fname not in drop
    }
    fields.update(add or {})
    model = create_model(name, __base__=Request, __doc__=doc, **fields)
    return model


AlertIssueRequest = without_case_id(
    AlertIssued,
    "AlertIssueRequest",
    "A new missing-child alert. Leave case_id out and intake assigns one in the issuing "
    "agency's namespace (<agency id>-<date>-<hex>); one given must start with <agency id>-.",
    add={
        "case_id": (
            str | None,
            Field(default=None, min_length=1, max_length=CASE_ID_MAX, pattern=CASE_ID_PATTERN),
        )
    },
)
AlertUpdateRequest = without_case_id(
    AlertUpdated, "AlertUpdateRequest", "New information on an open alert."
)
SightingRequest = without_case_id(
    SightingReported, "SightingRequest", "A reported sighting of the child."
)
CancellationRequest = without_case_id(
    AlertCancelled,
    "CancellationRequest",
    "Cancel or resolve an alert: FOUND, FALSE_REPORT or WITHDRAWN, with a note.",
)

DnaComparisonRequest = without_case_id(
    DnaComparisonRecorded,
    "DnaComparisonRequest",
    "A DNA comparison police ran for the case (police-only: travels on police.* topics only).",
)
CaseOutcomeRequest = without_case_id(
    CaseOutcomeRecorded,
    "CaseOutcomeRequest",
    "A procuratorate's or court's decision on a case: charged or not_charged (the "
    "procuratorate), tried or judgement with its result (the court). The deciding agency is "
    "the caller's own.",
    drop=frozenset({"authority_id", "authority_type"}),
)
ReferralAnswerRequest = without_case_id(
    ReferralAnswered,
    "ReferralAnswerRequest",
    "An agency's answer to a referral offered to it: a FHIR Task status, with a coded "
    "reason (rejected, failed) or outcome (completed).",
    drop=frozenset({"referral_id"}),
)
ReportRequest = without_case_id(
    MandatoryReportFiled,
    "ReportRequest",
    "A mandatory report of suspected trafficking. Routed to police only; the reporter's "
    "identity is seen by police only.",
    add={
        "report_id": (
            Ident | None,
            Field(
                default=None,
                description='The report\'s id; when absent intake makes one ("RPT-" and 32 hex '
                "digits), the same one for a retry with the same Idempotency-Key.",
            ),
        )
    },
)
ReportAckRequest = without_case_id(
    ReportAcknowledged,
    "ReportAckRequest",
    "Police acknowledge a mandatory report: the unit that took it on.",
)


class Accepted(BaseModel):
    """The 202 answer: the event is on the bus (Kafka acknowledged it)."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="The CloudEvents id (ce_id) of the published event.")
    case_id: str
    type: str = Field(description="The CloudEvents type, e.g. homeward.alerts.AlertIssued.")
    accepted_at: datetime = Field(description="When intake accepted it; equals ce_time.")
    topic: str = Field(description="The Kafka topic it was published to.")


class ReportAccepted(Accepted):
    """The 202 answer to a new report: its id (also the record key and case_id)."""

    report_id: str


class ReferralState(BaseModel):
    """A referral as the router last recorded it (intake's read model of its log)."""

    case_id: str
    referral_id: str
    rule_id: str
    agency_id: str = Field(description="The agency the referral is currently offered to.")
    agency_type: str
    offer: int = Field(description="1 for the first agency asked, 2 after one rejection, ...")
    status: TaskStatus
    reason: RejectionReason | None = None
    outcome: Outcome | None = None
    changed_at: datetime
    allowed_answers: list[str] = Field(
        description="The statuses the agency may answer next (homeward.lifecycle)."
    )
    pending_answer: TaskStatus | None = Field(
        default=None,
        description="An answer this intake published that the router has not recorded yet.",
    )
