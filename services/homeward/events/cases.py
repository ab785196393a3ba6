"""What the procuratorate and the court decide on a case (issue 14): outcomes
on the case timeline, police and the judicial roles only. Models mirroring
schemas/avro/homeward.cases.*.avsc."""

from __future__ import annotations

from typing import ClassVar, Literal

from homeward.events.alerts import Ident, ShortText
from homeward.events.base import Classification, Event, Instant

Stage = Literal["charged", "not_charged", "tried", "judgement"]
# Who decides each stage: the procuratorate whether to prosecute, the court the trial.
AUTHORITY_OF: dict[str, str] = {
    "charged": "procuratorate",
    "not_charged": "procuratorate",
    "tried": "court",
    "judgement": "court",
}


class CaseOutcomeRecorded(Event):
    """A prosecution or court decision on a case. Police-only classified: it
    travels on police.case_outcomes.v1, and the timeline shows it to police
    and to the judicial roles (case.outcome.record) only. Which authority
    decides which stage, and that only a judgement has a result, intake's
    route checks against the caller (homeward_intake.routes_cases)."""

    avro_name: ClassVar[str] = "homeward.cases.CaseOutcomeRecorded"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    stage: Stage
    authority_id: Ident
    authority_type: Literal["procuratorate", "court"]
    decided_at: Instant
    # The decision's document number (起诉书 / 判决书 No.), never its text.
    reference: ShortText
    result: Literal["convicted", "acquitted"] | None = None
