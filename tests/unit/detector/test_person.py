"""The detector by person: identity checks (4a), overlapping stays (4b),
certificates with no delivery (1), duplicates, deterministic ids and the
state a person leaves behind once the windows have closed."""

from __future__ import annotations

from datetime import timedelta

from homeward.events import AnomalyRule, IdentityCheck, Severity
from homeward_detector import planner
from homeward_detector.planner import Windows
from homeward_detector.state import anomaly_id
from tests.unit.detector.world import (
    DAY,
    HOSPITAL_B,
    HOUR,
    T0,
    Detector,
    W,
    admission,
    certificate,
    delivery,
    discharge,
    mother,
)

R = AnomalyRule
LATE = W.lateness
M = mother(1)


# -- rule 4a -------------------------------------------------------------------


def test_a_failed_document_check_is_raised_at_once_as_high() -> None:
    d = Detector()
    eid = d.record(admission(M, "A1", T0, check=IdentityCheck(document_match=False)))
    (a,) = d.raised
    assert (a.rule, a.severity, a.evidence, a.subject) == (
        R.IDENTITY_CHECK_FAILED,
        Severity.HIGH,
        (eid,),
        M.id_number,
    )


def test_a_face_mismatch_is_critical() -> None:
    d = Detector()
    d.record(delivery(M, "D1", T0, check=IdentityCheck(document_match=True, face_match=False)))
    assert [(a.rule, a.severity) for a in d.raised] == [
        (R.IDENTITY_CHECK_FAILED, Severity.CRITICAL)
    ]


def test_no_face_check_where_it_is_not_rolled_out_is_no_failure() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0, check=IdentityCheck(document_match=True, face_match=None)))
    assert d.raised == []


# -- rule 4b -------------------------------------------------------------------


def test_closed_stays_overlapping_at_two_hospitals_are_raised_at_once() -> None:
    d = Detector()
    a = d.record(admission(M, "A1", T0))
    d.record(discharge(M, "X1", T0 + 2 * DAY, admission_id="A1"))
    b = d.record(admission(M, "A2", T0 + DAY, hospital=HOSPITAL_B))
    (found,) = d.raised
    assert found.rule == R.OVERLAPPING_ADMISSIONS and set(found.evidence) == {a, b}
    assert found.hospital_id == HOSPITAL_B and found.severity == Severity.HIGH


def test_an_open_stay_waits_for_a_late_discharge_before_deciding() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(admission(M, "A2", T0 + DAY, hospital=HOSPITAL_B))
    d.tick(T0 + DAY + LATE - timedelta(milliseconds=1))
    assert d.raised == []
    d.tick(T0 + DAY + LATE)
    assert d.rules() == [R.OVERLAPPING_ADMISSIONS]
    d.tick(T0 + DAY + 2 * LATE)  # decided once
    assert len(d.raised) == 1


def test_a_late_discharge_before_the_other_admission_clears_the_pair() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(admission(M, "A2", T0 + DAY, hospital=HOSPITAL_B))
    d.record(discharge(M, "X1", T0 + 12 * HOUR, admission_id="A1"))
    d.tick(T0 + 3 * DAY)
    assert d.raised == []


def test_stays_at_the_same_hospital_or_within_the_tolerance_pass() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(admission(M, "A2", T0 + HOUR))  # same hospital: a data-entry double
    assert d.raised == []
    t = Detector(windows=Windows(overlap_tolerance=timedelta(hours=1)))
    t.record(admission(M, "A1", T0))
    t.record(discharge(M, "X1", T0 + DAY + 30 * timedelta(minutes=1), admission_id="A1"))
    t.record(admission(M, "A2", T0 + DAY, hospital=HOSPITAL_B))  # a transfer
    t.tick(T0 + 3 * DAY)
    assert t.raised == []


def test_a_newborns_discharge_does_not_close_the_mothers_stay() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(discharge(M, "X1", T0 + HOUR, admission_id="A1", delivery_id="D1"))
    d.record(admission(M, "A2", T0 + DAY, hospital=HOSPITAL_B))
    d.tick(T0 + DAY + LATE)
    assert d.rules() == [R.OVERLAPPING_ADMISSIONS]


# -- rule 1 --------------------------------------------------------------------


def test_a_certificate_with_no_delivery_is_raised_only_once_lateness_has_passed() -> None:
    d = Detector()
    cert = d.record(certificate(M, "C1", "D1", T0))
    d.tick(T0 + LATE - timedelta(milliseconds=1))
    assert d.raised == []
    d.tick(T0 + LATE)
    (found,) = d.raised
    assert (found.rule, found.severity, found.evidence) == (
        R.CERTIFICATE_WITHOUT_DELIVERY,
        Severity.CRITICAL,
        (cert,),
    )
    assert found.detected_at == T0 + LATE


def test_a_delivery_arriving_after_its_certificate_clears_it() -> None:
    d = Detector()
    d.record(certificate(M, "C1", "D1", T0))
    d.tick(T0 + HOUR)
    d.record(delivery(M, "D1", T0 - DAY))
    d.tick(T0 + 10 * DAY)
    assert d.raised == []


def test_a_delivery_elsewhere_too_early_or_after_the_certificate_is_no_match() -> None:
    for other in (
        delivery(M, "D1", T0 - DAY, hospital=HOSPITAL_B),
        delivery(M, "D1", T0 - W.certificate - HOUR),
        delivery(M, "D1", T0 + HOUR),
    ):
        d = Detector()
        d.record(other)
        d.record(certificate(M, "C1", "D1", T0))
        d.tick(T0 + LATE + HOUR)
        assert d.rules() == [R.CERTIFICATE_WITHOUT_DELIVERY], other


def test_another_mothers_delivery_is_no_match() -> None:
    d = Detector()
    d.record(delivery(mother(2), "D1", T0 - DAY))
    d.record(certificate(M, "C1", "D1", T0))
    d.tick(T0 + LATE)
    assert R.CERTIFICATE_WITHOUT_DELIVERY in d.rules()


# -- duplicates, ids, forwarding, state ------------------------------------------


def test_a_duplicate_or_an_identical_resend_changes_nothing() -> None:
    d = Detector()
    bad = admission(M, "A1", T0, check=IdentityCheck(document_match=False))
    first = d.record(bad)
    state = d.persons[M.id_number].to_json()
    d.record(bad, event_id=first)
    d.record(bad)  # the same content under a new event id
    assert len(d.raised) == 1 and d.persons[M.id_number].to_json() == state
    cert = certificate(M, "C1", "D1", T0)
    eid = d.record(cert)
    d.record(cert, event_id=eid)
    d.record(cert)
    assert [k for k, _ in d.forwarded] == ["delivery:D1", "certificate:C1"]


def test_anomaly_ids_are_uuid5_of_the_rule_and_the_sorted_evidence() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0, check=IdentityCheck(document_match=False)), event_id="e-2")
    assert d.raised[0].id == anomaly_id("identity_check_failed", ["e-2"])
    assert anomaly_id("x", ["b", "a"]) == anomaly_id("x", ["a", "b"])
    # Handled again from the state before it (a crash before the state was
    # stored): the same id, so readers drop the copy.
    again = planner.person_record(
        None,
        M.id_number,
        admission(M, "A1", T0, check=IdentityCheck(document_match=False)),
        "e-2",
        T0,
        W,
    )
    assert [a.id for a in again.anomalies] == [d.raised[0].id]
    assert again.anomalies[0].event().case_id == d.raised[0].id


def test_forwarding_rekeys_deliveries_certificates_and_newborn_discharges_only() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(delivery(M, "D1", T0 + HOUR))
    d.record(certificate(M, "C1", "D1", T0 + DAY))
    d.record(discharge(M, "X1", T0 + 2 * DAY, admission_id="A1"))
    d.record(discharge(M, "X2", T0 + 2 * DAY, delivery_id="D1"))
    assert [k for k, _ in d.forwarded] == [
        "delivery:D1",
        "delivery:D1",
        "certificate:C1",
        "delivery:D1",
    ]


def test_a_persons_state_is_dropped_once_every_window_has_closed() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.record(delivery(M, "D1", T0 + HOUR))
    d.record(certificate(M, "C1", "D1", T0 + DAY))
    d.record(discharge(M, "X1", T0 + 2 * DAY, admission_id="A1"))
    d.record(certificate(mother(3), "C9", "D9", T0))  # raises, and is forgotten too
    d.tick(T0 + 2 * DAY + LATE)
    assert M.id_number in d.persons  # the delivery is kept for the certificate window
    d.tick(T0 + HOUR + W.certificate + LATE)
    assert d.persons == {}
    # By delivery: the certificate window after the last record on it.
    d.tick(T0 + DAY + W.certificate + LATE)
    assert set(d.index) == {"certificate:C1", "certificate:C9"}
    # A certificate number is remembered longest, to catch its reuse.
    d.tick(T0 + DAY + W.number + LATE)
    assert d.persons == {} and d.index == {}
    assert d.rules() == [R.CERTIFICATE_WITHOUT_DELIVERY]


def test_an_admission_never_discharged_is_forgotten_after_the_longest_stay() -> None:
    d = Detector()
    d.record(admission(M, "A1", T0))
    d.tick(T0 + W.max_stay - HOUR)
    assert M.id_number in d.persons
    d.tick(T0 + W.max_stay)
    assert d.persons == {}


def test_the_wakeup_is_the_first_deadline_and_none_once_decided() -> None:
    d = Detector()
    d.record(certificate(M, "C1", "D1", T0))
    s = d.persons[M.id_number]
    assert planner.person_wakeup(s, W) == int((T0 + LATE).timestamp() * 1000)
    d.tick(T0 + LATE)
    assert d.persons == {}  # decided, and its window (issued + lateness) closed
