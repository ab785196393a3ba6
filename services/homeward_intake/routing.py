"""Which topic each event intake accepts goes to: one table by event type,
naming topology topic ids (never topic names; see topology/topics.yaml).

A referral answer is the one event whose topic is not fixed by its type: it
depends on the answering agency's type (homeward.topology.answer_topic_id).
"""

from __future__ import annotations

from homeward.agency_types import AgencyType
from homeward.errors import ConfigError
from homeward.events import (
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    DnaComparisonRecorded,
    Event,
    MandatoryReportFiled,
    ReferralAnswered,
    ReportAcknowledged,
    RescueNotified,
    SightingReported,
)
from homeward.topology import answer_topic_id

EVENT_TOPICS: dict[str, str] = {
    AlertIssued.avro_name: "alert_events",
    AlertUpdated.avro_name: "alert_events",
    SightingReported.avro_name: "alert_events",
    AlertCancelled.avro_name: "alert_events",
    RescueNotified.avro_name: "rescues",
    DnaComparisonRecorded.avro_name: "police_referrals",
    MandatoryReportFiled.avro_name: "reports",
    ReportAcknowledged.avro_name: "reports",
}


def topic_id_for(event: Event, answering_type: AgencyType | str | None = None) -> str:
    """The topology id of the topic `event` is published to.

    `answering_type` is required for a ReferralAnswered (the type of the agency
    the referral is offered to) and ignored otherwise."""
    if isinstance(event, ReferralAnswered):
        if answering_type is None:
            raise ConfigError(
                "a referral answer's topic depends on the answering agency's type",
                field="agency_type",
            )
        return answer_topic_id(answering_type)
    try:
        return EVENT_TOPICS[event.ce_type()]
    except KeyError:
        raise ConfigError(f"intake does not publish {event.ce_type()}", field="type") from None
