"""Rescue and referrals (digest flow 2): models mirroring
schemas/avro/homeward.referrals.*.avsc one to one.

A referral is a FHIR Task: its status codes are FHIR's (homeward.lifecycle
holds the allowed transitions). Rejections carry a coded reason and
completions a coded outcome, so the coordination office can count them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from homeward.events.alerts import Ident, Location, ResponsibleOfficer, ShortText, Text
from homeward.events.base import Classification, Event, Instant, Model

MAX_AGE = 120
Label = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]


class TaskStatus(StrEnum):
    """FHIR R4 Task.status (http://hl7.org/fhir/task-status), the codes used here."""

    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RejectionReason(StrEnum):
    """Why an agency rejects (or fails) a referral."""

    NO_CAPACITY = "no_capacity"
    NOT_RESPONSIBLE = "not_responsible"
    OUT_OF_AREA = "out_of_area"
    PERSON_DECLINED = "person_declined"
    DUPLICATE = "duplicate"
    UNREACHABLE = "unreachable"
    OTHER = "other"


class Outcome(StrEnum):
    """What came of a completed referral."""

    SERVICE_PROVIDED = "service_provided"
    PARTIALLY_PROVIDED = "partially_provided"
    REFERRED_ONWARD = "referred_onward"
    NOT_NEEDED = "not_needed"


class HouseholdRegistration(StrEnum):
    """Household registration (hukou) status of a rescued person."""

    LOCAL = "local"
    NON_LOCAL = "non_local"
    NONE = "none"
    UNKNOWN = "unknown"


Sex = Literal["female", "male", "unknown"]


class RescuedPerson(Model):
    name: ShortText | None = None
    sex: Sex
    age_years: int = Field(ge=0, le=MAX_AGE)
    age_estimated: bool = False
    guardians_known: bool
    identity_known: bool
    disabilities: list[Label] = Field(default_factory=list, max_length=8)
    household_registration: HouseholdRegistration
    has_means: bool = True
    languages: list[Label] = Field(default_factory=list, max_length=8)

    @property
    def is_child(self) -> bool:
        return self.age_years < 18


class DnaSample(Model):
    sample_id: Ident
    collected_at: Instant
    laboratory: ShortText
    profile: str | None = Field(default=None, max_length=4000)


class RescueNotified(Event):
    avro_name: ClassVar[str] = "homeward.referrals.RescueNotified"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    rescue_id: Ident
    rescuing_unit: ShortText
    officer: ResponsibleOfficer
    person: RescuedPerson
    rescued_at: Instant
    location: Location
    closes_alert: bool = False
    dna: DnaSample | None = None
    notes: Text = ""


class VictimProfile(Model):
    """A rescued person as one agency role may see them; unneeded fields are None."""

    name: str | None = None
    sex: Sex | None = None
    age_years: int | None = Field(default=None, ge=0, le=MAX_AGE)
    is_child: bool | None = None
    guardians_known: bool | None = None
    identity_known: bool | None = None
    disabilities: list[Label] | None = Field(default=None, max_length=8)
    household_registration: HouseholdRegistration | None = None
    has_means: bool | None = None
    languages: list[Label] | None = Field(default=None, max_length=8)
    location: Location | None = None
    rescued_at: Instant | None = None
    police_contact: ResponsibleOfficer | None = None


class _Referral(Event):
    referral_id: Ident


class ReferralRequested(_Referral):
    avro_name: ClassVar[str] = "homeward.referrals.ReferralRequested"

    rule_id: Label
    service: ShortText
    agency_id: Ident
    agency_type: str
    offer: int = Field(default=1, ge=1, le=1000)
    requested_at: Instant
    answer_due: Instant
    complete_due: Instant
    victim: VictimProfile
    cites: ShortText


class ReferralAnswered(_Referral):
    """An agency's answer. Whether the step is allowed is homeward.lifecycle's call."""

    avro_name: ClassVar[str] = "homeward.referrals.ReferralAnswered"

    agency_id: Ident
    status: TaskStatus
    reason: RejectionReason | None = None
    outcome: Outcome | None = None
    note: Text = ""


class ReferralStatusChanged(_Referral):
    avro_name: ClassVar[str] = "homeward.referrals.ReferralStatusChanged"

    rule_id: Label
    agency_id: Ident
    agency_type: str
    offer: int = Field(ge=1, le=1000)
    previous_status: TaskStatus | None = None
    status: TaskStatus
    reason: RejectionReason | None = None
    outcome: Outcome | None = None
    changed_at: Instant
    answer_event_id: str | None = Field(default=None, max_length=200)


class ReferralAnswerRefused(_Referral):
    avro_name: ClassVar[str] = "homeward.referrals.ReferralAnswerRefused"

    agency_id: Ident
    status: str = Field(max_length=40)
    current_status: TaskStatus | None = None
    reason: Text
    answer_event_id: str = Field(max_length=200)


class ReferralOverdue(_Referral):
    avro_name: ClassVar[str] = "homeward.referrals.ReferralOverdue"

    rule_id: Label
    service: ShortText
    agency_id: Ident
    agency_type: str
    offer: int = Field(ge=1, le=1000)
    status: TaskStatus
    phase: Literal["answer", "completion"]
    due_at: Instant


class ReferralEscalated(_Referral):
    avro_name: ClassVar[str] = "homeward.referrals.ReferralEscalated"

    rule_id: Label
    service: ShortText
    agency_type: str
    offers: int = Field(ge=0, le=1000)
    last_reason: RejectionReason | None = None


class DnaComparisonRecorded(Event):
    avro_name: ClassVar[str] = "homeward.referrals.DnaComparisonRecorded"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    sample_id: Ident
    database: ShortText
    result: Literal["match", "no_match", "inconclusive"]
    matched_record: str | None = Field(default=None, max_length=200)
    compared_at: Instant


class ClockTick(Event):
    """Internal: 'judge deadlines as of `now`'. Time is an input, so tests set it."""

    avro_name: ClassVar[str] = "homeward.common.ClockTick"

    now: Instant
