"""Which topic each event intake accepts goes to: one table by event type,
naming topology topic ids (never topic names; see topology/topics.yaml);
and the key it goes with (key_for).

A referral answer is the one event whose topic is not fixed by its type: it
depends on the answering agency's type (homeward.topology.answer_topic_id).
"""

from __future__ import annotations

from homeward.agency_types import AgencyType
from homeward.errors import ConfigError
from homeward.events import (
    AdmissionRegistered,
    AlertCancelled,
    AlertIssued,
    AlertUpdated,
    BirthCertificateIssued,
    CaseOutcomeRecorded,
    DeliveryRecorded,
    DischargeRecorded,
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
    CaseOutcomeRecorded.avro_name: "police_case_outcomes",
    MandatoryReportFiled.avro_name: "reports",
    ReportAcknowledged.avro_name: "reports",
    AdmissionRegistered.avro_name: "health_records",
    DeliveryRecorded.avro_name: "health_records",
    BirthCertificateIssued.avro_name: "health_records",
    DischargeRecorded.avro_name: "health_records",
}


def key_for(event: Event) -> str:
    """The record's key: the case (or report) id, except for health records,
    which are keyed by the person's id number (the patient's; the mother's for
    a delivery, a certificate or a newborn's discharge) as health.records.v1
    declares, so one person's records stay in order on one partition."""
    if isinstance(event, AdmissionRegistered | DischargeRecorded):
        return event.patient.id_number
    if isinstance(event, DeliveryRecorded | BirthCertificateIssued):
        return event.mother.id_number
    return event.case_id


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
