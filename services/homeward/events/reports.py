"""Mandatory reports (digest flow 3): models mirroring
schemas/avro/homeward.reports.*.avsc. The report and its reporter travel only
on police-only topics; the overdue notice to the coordination office names
neither the reporter nor the person."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from homeward.events.alerts import Ident, Location, ShortText, Text
from homeward.events.base import Classification, Event, Instant, Model
from homeward.events.referrals import MAX_AGE, Sex


class Sector(StrEnum):
    """Who must report (Ninghe 一4,7,8,14, 五2; Sichuan 1)."""

    EDUCATION = "education"
    HEALTH = "health"
    MARRIAGE_REGISTRY = "marriage_registry"
    TRANSPORT = "transport"
    HOTEL = "hotel"
    ENTERTAINMENT = "entertainment"
    VILLAGE_COMMITTEE = "village_committee"
    OTHER = "other"


class Reporter(Model):
    name: ShortText
    organisation: ShortText
    role: ShortText
    phone: str | None = Field(default=None, max_length=32)


class PersonAtRisk(Model):
    description: Text = Field(min_length=1)
    sex: Sex = "unknown"
    apparent_age_years: int | None = Field(default=None, ge=0, le=MAX_AGE)


class MandatoryReportFiled(Event):
    avro_name: ClassVar[str] = "homeward.reports.MandatoryReportFiled"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    sector: Sector
    reporter: Reporter
    observed: Text = Field(min_length=1)
    location: Location
    observed_at: Instant
    person: PersonAtRisk


class ReportAcknowledged(Event):
    avro_name: ClassVar[str] = "homeward.reports.ReportAcknowledged"
    classification: ClassVar[Classification] = Classification.POLICE_ONLY

    police_unit: ShortText
    agency_id: Ident
    note: Text = ""


class ReportOverdue(Event):
    avro_name: ClassVar[str] = "homeward.reports.ReportOverdue"

    sector: Sector
    filed_at: Instant
    due_at: Instant
    # The county-level administrative division code (6 digits) or "unknown":
    # never the reporter's own description of the place (homeward_referrals.reports).
    area: ShortText
