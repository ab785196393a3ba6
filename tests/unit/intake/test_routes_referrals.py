"""Rescues, DNA comparisons, answers to referrals and a referral's state, over
in-memory adapters: the topic each goes to, each refusal naming its field,
and nothing published on any 4xx."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from homeward.codec import Codec
from homeward.events import (
    DnaComparisonRecorded,
    ReferralAnswered,
    ReferralAnswerRefused,
    ReferralStatusChanged,
    RescueNotified,
    TaskStatus,
)
from homeward_intake.idempotency import MemoryIdempotencyStore
from homeward_intake.publisher import MemoryPublisher
from homeward_intake.referral_view import MemoryReferralView
from tests.unit.intake import samples
from tests.unit.intake.test_routes import assert_error_shape, fields_of

codec = Codec()
CASE = samples.CASE_ID
REF = "REF-TEST-1"
AGENCY = "CA-TEST-1"
ANSWERS = f"/v1/referrals/{CASE}/{REF}/answers"


def changed(
    status: str,
    *,
    agency_id: str = AGENCY,
    agency_type: str = "civil_affairs",
    offer: int = 1,
    previous: str | None = None,
    answer_event_id: str | None = None,
    referral_id: str = REF,
    **coded: Any,
) -> ReferralStatusChanged:
    return ReferralStatusChanged(
        case_id=CASE,
        referral_id=referral_id,
        rule_id="welfare_placement",
        agency_id=agency_id,
        agency_type=agency_type,
        offer=offer,
        previous_status=TaskStatus(previous) if previous else None,
        status=TaskStatus(status),
        changed_at=datetime(2026, 1, 2, 10, 0, tzinfo=UTC),
        answer_event_id=answer_event_id,
        **coded,
    )


def record(view: MemoryReferralView, event: Any) -> None:
    view.table.apply(event, str(uuid.uuid4()))


def answer(status: str, agency_id: str = AGENCY, **extra: Any) -> dict[str, Any]:
    return {"agency_id": agency_id, "status": status, **extra}


def decoded(publisher: MemoryPublisher, topic_id: str) -> list[Any]:
    return [codec.decode(r.value, r.headers) for r in publisher.events(topic_id)]


# -- rescues and DNA comparisons --------------------------------------------------------


def test_a_rescue_goes_to_the_police_rescues_topic(
    http: TestClient, publisher: MemoryPublisher, alerts: Any
) -> None:
    samples.seed_alert(alerts)  # it closes the alert: one must be open
    resp = http.post("/v1/rescues", json=samples.rescue())
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "test.police.rescues.v1"
    assert resp.json()["type"] == RescueNotified.avro_name
    [rescue] = decoded(publisher, "rescues")
    assert samples.bare(rescue.event) == RescueNotified.model_validate(samples.rescue())
    assert rescue.meta.classification.value == "police-only"
    assert publisher.topics() == ["test.police.rescues.v1"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["person"].pop("guardians_known"), "person.guardians_known"),
        (lambda b: b["person"].update(age_years=130), "person.age_years"),
        (lambda b: b.update(case_id="bad id"), "case_id"),
        (lambda b: b["dna"].update(collected_at="2026-01-02T10:00:00"), "dna.collected_at"),
        (
            lambda b: b["person"].update(household_registration="moon"),
            "person.household_registration",
        ),
    ],
)
def test_an_invalid_rescue_is_422_naming_the_field(
    http: TestClient, publisher: MemoryPublisher, mutate: Any, field: str
) -> None:
    body = samples.rescue()
    mutate(body)
    resp = http.post("/v1/rescues", json=body, headers={"Idempotency-Key": "k-rescue"})
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert samples.DNA_CANARY not in resp.text
    assert publisher.sent == []


def test_a_dna_comparison_goes_to_the_police_referrals_topic(
    http: TestClient, publisher: MemoryPublisher
) -> None:
    resp = http.post(f"/v1/cases/{CASE}/dna-comparisons", json=samples.dna_comparison())
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "test.police.referrals.v1"
    [comparison] = decoded(publisher, "police_referrals")
    assert samples.bare(comparison.event) == DnaComparisonRecorded.model_validate(
        {**samples.dna_comparison(), "case_id": CASE}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (samples.dna_comparison(result="maybe"), "result"),
        (samples.dna_comparison(case_id=CASE), "case_id"),
        ({k: v for k, v in samples.dna_comparison().items() if k != "database"}, "database"),
    ],
)
def test_an_invalid_dna_comparison_is_422_naming_the_field(
    http: TestClient, publisher: MemoryPublisher, body: dict[str, Any], field: str
) -> None:
    resp = http.post(f"/v1/cases/{CASE}/dna-comparisons", json=body)
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert publisher.sent == []


# -- answers: accepted, to the right topic ---------------------------------------------------


def test_a_legal_answer_from_a_non_police_agency_goes_to_referral_answers(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    resp = http.post(ANSWERS, json=answer("accepted", note="A bed is ready (test)."))
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "test.referrals.answers.v1"
    assert resp.json()["type"] == ReferralAnswered.avro_name
    [got] = decoded(publisher, "referral_answers")
    assert samples.bare(got.event) == ReferralAnswered(
        case_id=CASE,
        referral_id=REF,
        agency_id=AGENCY,
        status=TaskStatus.ACCEPTED,
        note="A bed is ready (test).",
    )
    assert got.meta.id == resp.json()["event_id"]
    assert publisher.topics() == ["test.referrals.answers.v1"]


def test_a_police_answer_goes_to_the_police_referrals_topic(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested", agency_id="PS-TEST-1", agency_type="police"))
    resp = http.post(ANSWERS, json=answer("received", agency_id="PS-TEST-1"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "test.police.referrals.v1"
    assert publisher.events("referral_answers") == []
    assert len(publisher.events("police_referrals")) == 1


@pytest.mark.parametrize(
    ("known", "status", "coded"),
    [
        ("requested", "rejected", {"reason": "no_capacity"}),
        ("accepted", "in-progress", {}),
        ("in-progress", "on-hold", {"reason": "person_declined"}),
        ("in-progress", "completed", {"outcome": "service_provided"}),
        ("accepted", "failed", {"reason": "unreachable"}),
    ],
)
def test_every_legal_step_is_published(
    http: TestClient,
    publisher: MemoryPublisher,
    referrals: MemoryReferralView,
    known: str,
    status: str,
    coded: dict[str, str],
) -> None:
    record(referrals, changed(known))
    resp = http.post(ANSWERS, json=answer(status, **coded))
    assert resp.status_code == 202, resp.text
    [got] = decoded(publisher, "referral_answers")
    assert got.event.status.value == status


# -- answers: refused, naming the field, nothing published -------------------------------------


@pytest.mark.parametrize(
    ("known", "status", "coded", "allowed"),
    [
        (
            "requested",
            "completed",
            {"outcome": "service_provided"},
            ["accepted", "received", "rejected"],
        ),
        ("requested", "in-progress", {}, ["accepted", "received", "rejected"]),
        ("accepted", "received", {}, ["failed", "in-progress"]),
        ("completed", "in-progress", {}, []),
        ("rejected", "accepted", {}, []),
    ],
)
def test_an_illegal_step_is_409_naming_status_and_what_may_come_next(
    http: TestClient,
    publisher: MemoryPublisher,
    referrals: MemoryReferralView,
    known: str,
    status: str,
    coded: dict[str, str],
    allowed: list[str],
) -> None:
    record(referrals, changed(known))
    resp = http.post(ANSWERS, json=answer(status, **coded), headers={"Idempotency-Key": "k-ill"})
    assert_error_shape(resp, 409, "illegal_transition")
    assert fields_of(resp) == ["status"]
    assert resp.json()["allowed"] == allowed
    reason = resp.json()["errors"][0]["reason"]
    assert f"from {known} to {status}" in reason
    assert all(a in reason for a in allowed) and ("final" in reason) == (not allowed)
    assert publisher.sent == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (answer("rejected"), "reason"),
        (answer("failed"), "reason"),
        (answer("completed"), "outcome"),
        (answer("accepted", reason="no_capacity"), "reason"),
        (answer("accepted", outcome="service_provided"), "outcome"),
        (answer("cancelled"), "status"),
        (answer("requested"), "status"),
        (answer("done"), "status"),
        (answer("rejected", reason="bored"), "reason"),
        ({"status": "accepted"}, "agency_id"),
        (answer("accepted", referral_id="R-2"), "referral_id"),
    ],
)
def test_a_malformed_answer_is_422_naming_the_field(
    http: TestClient,
    publisher: MemoryPublisher,
    referrals: MemoryReferralView,
    body: dict[str, Any],
    field: str,
) -> None:
    record(referrals, changed("requested"))
    resp = http.post(ANSWERS, json=body)
    assert_error_shape(resp, 422, "invalid_request")
    assert field in fields_of(resp)
    assert publisher.sent == []


def test_an_unknown_referral_is_404(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested", referral_id="REF-OTHER"))
    resp = http.post(ANSWERS, json=answer("accepted"), headers={"Idempotency-Key": "k-404"})
    assert_error_shape(resp, 404, "not_found")
    assert fields_of(resp) == ["referral_id"]
    assert publisher.sent == []


def test_an_answer_from_an_agency_not_offered_the_referral_is_409_wrong_agency(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    record(referrals, changed("rejected", previous="requested", reason="no_capacity"))
    # Re-offered to the next agency: the first one may no longer answer.
    record(referrals, changed("requested", agency_id="CA-TEST-2", offer=2))
    resp = http.post(ANSWERS, json=answer("accepted"))
    assert_error_shape(resp, 409, "wrong_agency")
    assert fields_of(resp) == ["agency_id"]
    assert "CA-TEST-2" not in resp.text  # the other agency is not named
    assert publisher.sent == []
    assert http.post(ANSWERS, json=answer("accepted", agency_id="CA-TEST-2")).status_code == 202


def test_a_late_record_of_an_earlier_offer_does_not_turn_the_referral_back(
    http: TestClient, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested", agency_id="CA-TEST-2", offer=2))
    record(referrals, changed("rejected", previous="requested", reason="no_capacity"))
    state = referrals.table.get(CASE, REF)
    assert state is not None and (state.agency_id, state.offer) == ("CA-TEST-2", 2)


def test_the_referral_log_not_caught_up_is_503_and_nothing_is_published(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    referrals.synced = False
    resp = http.post(ANSWERS, json=answer("accepted"), headers={"Idempotency-Key": "k-503"})
    assert_error_shape(resp, 503, "unavailable")
    assert resp.headers["Retry-After"] == "1"
    assert publisher.sent == []
    assert http.get(f"/v1/referrals/{CASE}/{REF}").status_code == 503


def test_kafka_down_is_503_for_an_answer(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    publisher.fail = True
    resp = http.post(ANSWERS, json=answer("accepted"))
    assert_error_shape(resp, 503, "unavailable")
    assert publisher.sent == []


# -- answers in quick succession, retries -------------------------------------------------------


def test_a_second_answer_is_judged_against_the_first_before_the_router_records_it(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    first = http.post(ANSWERS, json=answer("accepted"))
    second = http.post(ANSWERS, json=answer("in-progress"))
    assert (first.status_code, second.status_code) == (202, 202), second.text
    # Judged against in-progress (pending), not the log's requested.
    again = http.post(ANSWERS, json=answer("accepted"))
    assert again.status_code == 409 and again.json()["allowed"] == [
        "completed",
        "failed",
        "on-hold",
    ]
    # The router records the first: the second is still pending.
    record(
        referrals,
        changed("accepted", previous="requested", answer_event_id=first.json()["event_id"]),
    )
    assert referrals.table.known_status(CASE, REF) is TaskStatus.IN_PROGRESS
    # The router refuses the second: the log's status counts again.
    referrals.table.apply(
        ReferralAnswerRefused(
            case_id=CASE,
            referral_id=REF,
            agency_id=AGENCY,
            status="in-progress",
            current_status=TaskStatus.ACCEPTED,
            reason="test refusal",
            answer_event_id=second.json()["event_id"],
        )
    )
    assert referrals.table.known_status(CASE, REF) is TaskStatus.ACCEPTED
    assert len(publisher.events()) == 2


def test_a_retry_of_an_accepted_answer_is_replayed_even_after_the_referral_moved_on(
    http: TestClient, publisher: MemoryPublisher, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    key = {"Idempotency-Key": "k-answer-1"}
    first = http.post(ANSWERS, json=answer("accepted"), headers=key)
    record(
        referrals,
        changed("accepted", previous="requested", answer_event_id=first.json()["event_id"]),
    )
    again = http.post(ANSWERS, json=answer("accepted"), headers=key)
    assert again.status_code == 202 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # The same key for another referral is another request: a conflict.
    record(referrals, changed("requested", referral_id="REF-TEST-2"))
    other = http.post(
        f"/v1/referrals/{CASE}/REF-TEST-2/answers", json=answer("accepted"), headers=key
    )
    assert_error_shape(other, 409, "idempotency_conflict")
    assert len(publisher.events()) == 1


def test_a_retry_after_a_lost_answer_is_202_with_the_same_event_not_a_409(
    http: TestClient,
    publisher: MemoryPublisher,
    referrals: MemoryReferralView,
    store: MemoryIdempotencyStore,
) -> None:
    # The answer reached the bus, but its idempotency record did not (intake killed
    # between the two); the retry comes before and after the router records it.
    record(referrals, changed("requested"))
    key = {"Idempotency-Key": "k-answer-lost"}
    store.fail_puts = True
    first = http.post(ANSWERS, json=answer("accepted"), headers=key)
    assert first.status_code == 202
    before = http.post(ANSWERS, json=answer("accepted"), headers=key)
    assert before.status_code == 202, before.text
    record(
        referrals,
        changed("accepted", previous="requested", answer_event_id=first.json()["event_id"]),
    )
    store.fail_puts = False
    after = http.post(ANSWERS, json=answer("accepted"), headers=key)
    assert after.status_code == 202, after.text
    ids = {before.json()["event_id"], after.json()["event_id"]}
    assert ids == {first.json()["event_id"]}
    # Three copies of one event (the router drops the copies by its ce_id).
    assert [codec.decode(r.value, r.headers).meta.id for r in publisher.events()] == [
        first.json()["event_id"]
    ] * 3
    # The same answer under a new key is a new request, and out of turn: 409.
    other = http.post(ANSWERS, json=answer("accepted"), headers={"Idempotency-Key": "k-new"})
    assert_error_shape(other, 409, "illegal_transition")


# -- a referral's state -----------------------------------------------------------------------------


def test_get_referral_shows_the_routers_record_and_what_may_come_next(
    http: TestClient, referrals: MemoryReferralView
) -> None:
    record(referrals, changed("requested"))
    record(referrals, changed("accepted", previous="requested"))
    resp = http.get(f"/v1/referrals/{CASE}/{REF}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "accepted"
    assert (body["agency_id"], body["agency_type"], body["offer"]) == (AGENCY, "civil_affairs", 1)
    assert body["allowed_answers"] == ["failed", "in-progress"]
    assert body["pending_answer"] is None
    assert http.post(ANSWERS, json=answer("in-progress")).status_code == 202
    assert http.get(f"/v1/referrals/{CASE}/{REF}").json()["pending_answer"] == "in-progress"


def test_get_an_unknown_referral_is_404_and_a_bad_id_422(http: TestClient) -> None:
    missing = http.get(f"/v1/referrals/{CASE}/REF-NONE")
    assert_error_shape(missing, 404, "not_found")
    assert fields_of(missing) == ["referral_id"]
    bad = http.get(f"/v1/referrals/{CASE}/bad id")
    assert_error_shape(bad, 422, "invalid_request")
    assert fields_of(bad) == ["referral_id"]


def test_readiness_reports_the_referral_log(
    http: TestClient, referrals: MemoryReferralView
) -> None:
    assert http.get("/readyz").json()["referral_log"] is True
    referrals.up = False
    resp = http.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["referral_log"] is False


def test_concurrent_answers_to_one_referral_are_judged_one_after_the_other() -> None:
    import threading

    from homeward_intake.answers import IllegalTransition
    from homeward_intake.handlers import Intake
    from homeward_intake.idempotency import MemoryIdempotencyStore
    from tests.unit.intake.test_idempotency import SlowPublisher

    publisher = SlowPublisher()
    view = MemoryReferralView()
    record(view, changed("requested"))
    intake = Intake(publisher, MemoryIdempotencyStore(), source_name="t", referrals=view)
    results: list[str] = []

    def send(status: str, **coded: Any) -> None:
        event = ReferralAnswered(
            case_id=CASE, referral_id=REF, agency_id=AGENCY, status=TaskStatus(status), **coded
        )
        try:
            intake.answer_referral(
                event, {"status": status}, None, principal=samples.agency_principal(AGENCY)
            )
            results.append(f"{status}: published")
        except IllegalTransition:
            results.append(f"{status}: refused")

    first = threading.Thread(target=send, args=("accepted",))
    first.start()
    assert publisher.entered.wait(10)  # the first is publishing, its lock held
    second = threading.Thread(target=send, args=("rejected",), kwargs={"reason": "no_capacity"})
    second.start()
    publisher.release.set()
    first.join(10)
    second.join(10)
    assert sorted(results) == ["accepted: published", "rejected: refused"]
    assert len(publisher.events()) == 1
