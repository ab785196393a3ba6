"""The synthetic hospital stream (demo and benchmark) and how the demo scores
the detector's anomalies against what it planted."""

from __future__ import annotations

from datetime import UTC, datetime

from homeward.codec import Codec
from homeward.events import AnomalyRule, HealthAnomalyDetected, Severity
from homeward_demo.health import HealthPlay, figures, found_by
from homeward_health.recorder import event_id_of, key_of
from homeward_health.synthetic import DEMO_HOSPITALS, KINDS, Planted, planted, stream

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_a_stream_has_four_records_a_birth_and_plants_each_kind_in_turn() -> None:
    items = list(stream(50, start=START, plant_every=10))
    groups = [i for i in items if isinstance(i, Planted)]
    assert len(items) - len(groups) == 200
    assert [g.name for g in groups] == list(KINDS)
    codec = Codec()
    for g in groups:
        assert g.proof and all(p in g.records for p in g.proof)
        for r in g.records:  # every record fits its Avro schema
            codec.encode(r, key=key_of(r), source="/test")


def anomaly(
    rule: AnomalyRule, evidence: list[str], subject: str = "ID-NOBODY"
) -> HealthAnomalyDetected:
    return HealthAnomalyDetected(
        case_id=f"A-{rule.value}-{len(evidence)}",
        rule=rule,
        severity=Severity.HIGH,
        hospital_id="HOSP-DEMO-1",
        subject_id_number=subject,
        evidence=evidence,
        detected_at=START,
        summary="test",
    )


def test_planted_found_by_rule_and_evidence_false_alarms_cite_nothing_planted() -> None:
    group = planted("identity_check_failed", "U1", DEMO_HOSPITALS, START, "CERT-X")
    play = HealthPlay(
        published=len(group.records),
        planted=[group],
        planted_ids={event_id_of(r) for r in group.records},
        planted_subjects={key_of(r) for r in group.proof},
    )
    proof = event_id_of(group.proof[0])
    hit = anomaly(AnomalyRule.IDENTITY_CHECK_FAILED, [proof])
    side = anomaly(AnomalyRule.CERTIFICATE_WITHOUT_DELIVERY, [proof])
    stray = anomaly(AnomalyRule.OVERLAPPING_ADMISSIONS, ["some-other-record"])
    assert found_by(group, hit) and not found_by(group, side)
    result = figures(play, [hit, side, stray])
    assert result["planted_found"] == ["identity_check_failed"]
    assert result["false_alarms"] == 1
    assert result["anomalies_by_rule"] == {
        "certificate_without_delivery": 1,
        "identity_check_failed": 1,
        "overlapping_admissions": 1,
    }
