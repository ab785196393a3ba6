"""The public tip line (issue 11): models mirroring schemas/avro/homeward.tips.*.avsc.

A tip is what a member of the public saw of a child whose alert was released
to the public. It travels on a police-only topic only: its description and the
tipster's contact are for the case's responsible officer and the officer's
unit. The overdue notice names the tip and the unit, never what was seen or
who saw it, because it also reaches the coordination office."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from homeward.events.alerts import Ident, ResponsibleOfficer, ShortText
from homeward.events.base import Classification, Event, Instant

# Bounds the gateway's public form also enforces; kept here so a direct
# writer of the topic meets the same ones.
MAX_DESCRIPTION = 1000
MAX_CONTACT = 200
TipText = Annotated[str, Field(min_length=1, max_length=MAX_DESCRIPTION)]


class TipVerdict(StrEnum):
    """What police made of a tip (the plans reward valid leads)."""

    UNASSESSED = "unassessed"
    VALID = "valid"
    INVALID = "invalid"


class TipReceived(Event):
    avro_name: ClassVar[str] = "homeward.tips.TipReceived"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    tip_id: Ident
    received_at: Instant
    seen_at: Instant
    place: ShortText
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    description: TipText
    contact: str | None = Field(default=None, min_length=1, max_length=MAX_CONTACT)
    channel: Literal["api", "form"] = "api"
    # The one-chief rule: the AlertIssued's chief officer, and the directory id
    # of the unit that issued the alert (its actor's agency).
    officer: ResponsibleOfficer
    agency_id: Ident


class TipAcknowledged(Event):
    avro_name: ClassVar[str] = "homeward.tips.TipAcknowledged"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    tip_id: Ident
    agency_id: Ident
    verdict: TipVerdict = TipVerdict.UNASSESSED
    code: str = Field(default="", max_length=64, pattern=r"^([A-Z][A-Z0-9_]*)?$")
    note: str = Field(default="", max_length=4000)


class TipOverdue(Event):
    avro_name: ClassVar[str] = "homeward.tips.TipOverdue"

    tip_id: Ident
    agency_id: Ident
    officer_id: Ident
    received_at: Instant
    due_at: Instant
