"""The detector by index key: the certificate's mother against the
delivery's (2), two certificates for one delivery and one number on two
certificates (3), and the newborn who left uncertified (5, off by default)."""

from __future__ import annotations

from dataclasses import replace

from homeward.events import AnomalyRule, Baby, Severity
from homeward_detector import planner
from tests.unit.detector.world import (
    DAY,
    HOUR,
    T0,
    Detector,
    W,
    certificate,
    delivery,
    discharge,
    mother,
)

R = AnomalyRule
A, B = mother("A"), mother("B")
RULE5 = replace(W, uncertified_enabled=True)


def mismatches(d: Detector) -> list[planner.Anomaly]:
    return [a for a in d.raised if a.rule == R.CERTIFICATE_MOTHER_MISMATCH]


def test_a_certificate_naming_another_mother_than_its_delivery() -> None:
    d = Detector()
    dl = d.record(delivery(A, "D1", T0))
    c = d.record(certificate(B, "C1", "D1", T0 + DAY))
    (found,) = mismatches(d)
    assert set(found.evidence) == {dl, c} and found.severity == Severity.CRITICAL
    assert found.subject == B.id_number


def test_the_mismatch_is_found_when_the_delivery_arrives_after_the_certificate() -> None:
    d = Detector()
    d.record(certificate(B, "C1", "D1", T0 + DAY))
    assert mismatches(d) == []
    d.record(delivery(A, "D1", T0))
    assert len(mismatches(d)) == 1


def test_a_cited_delivery_that_never_arrives_is_reported_once_by_rule_1_only() -> None:
    d = Detector()
    d.record(certificate(B, "C1", "D-NEVER", T0))
    d.tick(T0 + W.lateness)
    d.tick(T0 + W.number + W.lateness)
    assert d.rules() == [R.CERTIFICATE_WITHOUT_DELIVERY]
    assert d.index == {}


def test_one_delivery_with_two_certificates() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    first = d.record(certificate(A, "C1", "D1", T0 + DAY))
    second = d.record(certificate(A, "C2", "D1", T0 + 2 * DAY))
    (found,) = d.raised
    assert found.rule == R.DELIVERY_CERTIFIED_TWICE and set(found.evidence) == {first, second}


def test_the_same_certificate_sent_again_is_not_a_second_one() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    cert = certificate(A, "C1", "D1", T0 + DAY)
    d.record(cert)
    d.record(cert)
    # A correction under the same number, same delivery and mother: not a reuse.
    d.record(cert.model_copy(update={"baby": Baby(baby_id="BABY-D1", sex="female")}))
    assert d.raised == []


def test_one_certificate_number_on_two_certificates() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    d.record(delivery(B, "D2", T0))
    first = d.record(certificate(A, "C1", "D1", T0 + DAY))
    second = d.record(certificate(B, "C1", "D2", T0 + DAY))
    (found,) = d.raised
    assert found.rule == R.CERTIFICATE_NUMBER_REUSED and set(found.evidence) == {first, second}
    assert found.subject == B.id_number


def test_the_reuse_is_the_later_issued_certificate_whichever_arrives_first() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    d.record(delivery(B, "D2", T0))
    later = d.record(certificate(B, "C1", "D2", T0 + 2 * DAY))
    earlier = d.record(certificate(A, "C1", "D1", T0 + DAY))
    (found,) = d.raised
    assert set(found.evidence) == {earlier, later} and found.subject == B.id_number


def test_rule_5_is_off_by_default() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    d.record(discharge(A, "X1", T0 + DAY, delivery_id="D1"))
    d.tick(T0 + 10 * DAY)
    assert d.raised == []


def test_rule_5_a_newborn_discharged_with_no_certificate_in_time() -> None:
    d = Detector(windows=RULE5)
    dl = d.record(delivery(A, "D1", T0))
    left = d.record(discharge(A, "X1", T0 + DAY, delivery_id="D1"))
    due = T0 + RULE5.uncertified_after + RULE5.lateness
    d.tick(due - HOUR)
    assert d.raised == []
    d.tick(due)
    (found,) = d.raised
    assert found.rule == R.DELIVERY_WITHOUT_CERTIFICATE and set(found.evidence) == {dl, left}
    assert found.severity == Severity.MEDIUM
    d.tick(due + HOUR)
    assert len(d.raised) == 1


def test_rule_5_needs_the_discharge_and_counts_only_a_certificate_in_time() -> None:
    kept = Detector(windows=RULE5)  # still in hospital: nothing
    kept.record(delivery(A, "D1", T0))
    kept.tick(T0 + 10 * DAY)
    assert kept.raised == []
    on_time = Detector(windows=RULE5)
    on_time.record(delivery(A, "D1", T0))
    on_time.record(discharge(A, "X1", T0 + DAY, delivery_id="D1"))
    on_time.record(certificate(A, "C1", "D1", T0 + 2 * DAY))
    on_time.tick(T0 + 10 * DAY)
    assert on_time.raised == []
    late = Detector(windows=RULE5)
    late.record(delivery(A, "D1", T0))
    late.record(discharge(A, "X1", T0 + DAY, delivery_id="D1"))
    late.record(certificate(A, "C1", "D1", T0 + 5 * DAY))
    late.tick(T0 + 10 * DAY)
    assert late.rules() == [R.DELIVERY_WITHOUT_CERTIFICATE]


def test_index_state_is_dropped_after_its_window() -> None:
    d = Detector()
    d.record(delivery(A, "D1", T0))
    d.record(certificate(A, "C1", "D1", T0 + DAY))
    d.tick(T0 + DAY + W.certificate + W.lateness)
    assert set(d.index) == {"certificate:C1"}
    d.tick(T0 + DAY + W.number + W.lateness)
    assert d.index == {} and d.persons == {}
