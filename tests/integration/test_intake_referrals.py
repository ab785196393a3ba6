"""Intake's routes after the alert, on the real broker (`python -m homeward_intake`
as a subprocess): rescues, mandatory reports and their acknowledgement, and
answers to referrals checked against the read model intake builds from the
router's log, fed here with ReferralStatusChanged records this test publishes.

"Nothing was published" is checked with drain() from test_intake.py: a
sentinel on every partition, read back; intake answers only after Kafka
acknowledged, so anything it published sits before the sentinels.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from homeward import kafka as hkafka
from homeward.codec import Codec
from homeward.events import (
    MandatoryReportFiled,
    ReferralAnswered,
    ReferralStatusChanged,
    ReportAcknowledged,
    RescueNotified,
    TaskStatus,
)
from homeward_intake.client import IntakeError
from tests.fixtures.bus import Bus
from tests.fixtures.intake import IntakeProcess
from tests.integration.test_intake import drain
from tests.unit.intake import samples

pytestmark = pytest.mark.integration

codec = Codec()


def case_id() -> str:
    return f"POL-0001-IT-{uuid.uuid4().hex[:8]}"


def status_changed(
    case: str,
    referral_id: str,
    status: str,
    *,
    agency_id: str,
    agency_type: str,
    offer: int = 1,
    previous: str | None = None,
) -> ReferralStatusChanged:
    return ReferralStatusChanged(
        case_id=case,
        referral_id=referral_id,
        rule_id="health_check" if agency_type != "police" else "dna_sampling",
        agency_id=agency_id,
        agency_type=agency_type,
        offer=offer,
        previous_status=TaskStatus(previous) if previous else None,
        status=TaskStatus(status),
        changed_at=datetime.now(UTC),
    )


def publish_log(bus: Bus, *events: ReferralStatusChanged) -> None:
    """Write the router's log as the router would: keyed by case, on referrals.events.v1."""
    producer = hkafka.producer(bus.settings)
    try:
        records = [
            codec.encode(e, key=e.case_id, source="/homeward/referrals/test")[0] for e in events
        ]
        hkafka.send_all(producer, [(bus.topic("referral_events"), r) for r in records])
    finally:
        producer.close()


def decoded(records: list[Any]) -> list[Any]:
    return [codec.decode(r.value, r.headers) for r in records]


def test_a_rescue_goes_to_police_rescues_only(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    case = case_id()
    # No alert to close: a rescue of a child no alert was out for.
    rescue = RescueNotified.model_validate(samples.rescue(case_id=case, closes_alert=False))
    with intake.client() as client:
        answer = client.notify_rescue(rescue, idempotency_key="it-rescue-1")
        again = client.notify_rescue(rescue, idempotency_key="it-rescue-1")
    assert again == answer
    assert answer.topic == bus.topic("rescues")
    [record] = drain(bus, "rescues")
    assert record.key == case.encode()
    got = codec.decode(record.value, record.headers)
    assert got.event.model_copy(update={"actor": None}) == rescue
    assert got.meta.id == answer.event_id
    assert got.meta.classification.value == "police-only"
    assert drain(bus, "alert_events") == []


def test_a_report_and_its_acknowledgement_go_to_police_reports(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    # A school files (a mandatory reporter); police acknowledge as themselves.
    with intake.client("agency-system-edu-0001") as school, intake.client() as police:
        filed = school.file_report(**samples.report(), idempotency_key="it-report-1")
        again = school.file_report(**samples.report(), idempotency_key="it-report-1")
        ack = police.acknowledge_report(filed.report_id, "Sampleville Police Test Unit", "POL-0001")
    assert again == filed and filed.report_id.startswith("RPT-")
    assert filed.topic == ack.topic == bus.topic("reports")
    records = drain(bus, "reports")
    assert [r.key for r in records] == [filed.report_id.encode()] * 2
    report, acknowledged = decoded(records)
    assert isinstance(report.event, MandatoryReportFiled)
    assert report.event.reporter.name == "Test Teacher B"
    assert isinstance(acknowledged.event, ReportAcknowledged)
    assert acknowledged.event.agency_id == "POL-0001"
    assert acknowledged.meta.id == ack.event_id


def test_referral_answers_are_checked_against_the_routers_log(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    case = case_id()
    health = dict(agency_id="HEA-0001", agency_type="health")
    police = dict(agency_id="POL-0001", agency_type="police")
    # Part of the log is there before intake starts (read at start) ...
    publish_log(bus, status_changed(case, "REF-H", "requested", **health))
    intake = start_intake()
    assert httpx.get(f"{intake.url}/readyz").json()["referral_log"] is True
    # ... and part comes after (tailed; a decision first catches up with it).
    publish_log(bus, status_changed(case, "REF-P", "requested", **police))
    url = f"{intake.url}/v1/referrals/{case}"

    with intake.client("agency-system-hea-0001") as client, intake.client() as police_client:
        # An illegal step: 409 naming status and what may come next; nothing published.
        illegal = httpx.post(
            f"{url}/REF-H/answers",
            json={"agency_id": "HEA-0001", "status": "completed", "outcome": "service_provided"},
            headers={"Idempotency-Key": "it-illegal-1", **intake.auth("agency-system-hea-0001")},
        )
        assert illegal.status_code == 409, illegal.text
        assert illegal.json()["error"] == "illegal_transition"
        assert [e["field"] for e in illegal.json()["errors"]] == ["status"]
        assert illegal.json()["allowed"] == ["accepted", "received", "rejected"]
        with pytest.raises(IntakeError) as missing:
            client.answer_referral(case, "REF-H", "HEA-0001", "rejected")
        assert (missing.value.status, missing.value.fields) == (422, ["reason"])
        with pytest.raises(IntakeError) as unknown:
            client.answer_referral(case, "REF-NONE", "HEA-0001", "accepted")
        assert (unknown.value.status, unknown.value.fields) == (404, ["referral_id"])
        with pytest.raises(IntakeError) as wrong:
            client.answer_referral(case, "REF-P", "HEA-0001", "accepted")
        assert (wrong.value.status, wrong.value.code) == (409, "wrong_agency")
        assert drain(bus, "referral_answers") == [] and drain(bus, "police_referrals") == []

        # Legal steps: each to the topic its agency type answers on.
        health_answer = client.answer_referral(case, "REF-H", "HEA-0001", "accepted")
        police_answer = police_client.answer_referral(
            case, "REF-P", "POL-0001", "received", note="test"
        )
        assert client.referral(case, "REF-H").pending_answer is TaskStatus.ACCEPTED

        # The router re-offers REF-H (as after a rejection): the next decision sees it.
        publish_log(
            bus,
            status_changed(case, "REF-H", "rejected", previous="accepted", **health),
            status_changed(
                case, "REF-H", "requested", agency_id="HEA-0002", agency_type="health", offer=2
            ),
        )
        with pytest.raises(IntakeError) as moved:
            client.answer_referral(case, "REF-H", "HEA-0001", "in-progress")
        assert (moved.value.status, moved.value.code) == (409, "wrong_agency")
        # Police see every referral; the hospital no longer holds this one.
        state = police_client.referral(case, "REF-H")
        assert (state.agency_id, state.offer, state.status) == ("HEA-0002", 2, TaskStatus.REQUESTED)

    [answered] = decoded(drain(bus, "referral_answers"))
    assert answered.meta.id == health_answer.event_id
    assert answered.event.model_copy(update={"actor": None}) == ReferralAnswered(
        case_id=case, referral_id="REF-H", agency_id="HEA-0001", status=TaskStatus.ACCEPTED
    )
    assert answered.event.actor is not None
    assert answered.event.actor.agency_id == "HEA-0001"
    [police_record] = drain(bus, "police_referrals")
    assert police_record.key == case.encode()
    got = codec.decode(police_record.value, police_record.headers)
    assert got.meta.id == police_answer.event_id
    assert (got.event.agency_id, got.event.status, got.event.note) == (
        "POL-0001",
        TaskStatus.RECEIVED,
        "test",
    )
    assert health_answer.topic == bus.topic("referral_answers")
    assert police_answer.topic == bus.topic("police_referrals")
