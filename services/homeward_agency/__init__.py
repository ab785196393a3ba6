"""The agency subscriber: the SDK an agency uses to read, de-duplicate and
acknowledge its inbox and answer its referrals (Subscriber), police's desk
for mandatory reports (ReportDesk), a many-agency simulator for demos and
tests (Fleet), and the reference CLI (`python -m homeward_agency`)."""

from homeward.lifecycle import TransitionError
from homeward_agency.answers import PlannedAnswer, ReferralMemory, SentAnswer
from homeward_agency.dedup import SeenSet
from homeward_agency.delivery import Delivery
from homeward_agency.fleet import AnswerPolicy, Fleet, FleetStats
from homeward_agency.forward import Forwarder, ForwardError
from homeward_agency.journal import HandledJournal
from homeward_agency.render import format_line, to_json
from homeward_agency.reports import FiledReport, ReportDesk
from homeward_agency.settings import AgencySettings
from homeward_agency.subscriber import Subscriber, SubscriberStats

__all__ = [
    "AgencySettings",
    "AnswerPolicy",
    "Delivery",
    "FiledReport",
    "Fleet",
    "FleetStats",
    "ForwardError",
    "Forwarder",
    "HandledJournal",
    "PlannedAnswer",
    "ReferralMemory",
    "ReportDesk",
    "SeenSet",
    "SentAnswer",
    "Subscriber",
    "SubscriberStats",
    "TransitionError",
    "format_line",
    "to_json",
]
