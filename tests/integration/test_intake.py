"""The intake service on the real broker: `python -m homeward_intake` as a subprocess.

"Nothing was published" is checked without sleeping: after the action, a sentinel
record is produced to every partition of the topic, and the topic is read until
every sentinel is seen. Intake answers only after Kafka acknowledged, so anything
it published sits before the sentinels.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from homeward import kafka as hkafka
from homeward.codec import Codec
from homeward.events import AlertIssued, ChildDescription, Location, ResponsibleOfficer
from homeward_intake.client import Accepted, IntakeClient, IntakeError
from tests.fixtures.bus import Bus
from tests.fixtures.idp import Idp
from tests.fixtures.intake import IntakeProcess, spawn
from tests.unit.intake import samples

pytestmark = pytest.mark.integration

SENTINEL_HEADER = "homeward-test-sentinel"


# -- reading the topic until sentinels ------------------------------------------------


def drain(bus: Bus, topic_id: str) -> list[ConsumerRecord]:
    """Every record on the topic before a fresh sentinel on each partition."""
    topic = bus.topic(topic_id)
    token = uuid.uuid4().hex.encode()
    producer = hkafka.producer(bus.settings)
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **bus.settings.kafka_python())
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        assert partitions, f"topic {topic} not found"
        futures = [
            producer.send(
                topic,
                key=b"sentinel",
                value=b"sentinel",
                partition=p,
                headers=[(SENTINEL_HEADER, token)],
            )
            for p in partitions
        ]
        producer.flush(30)
        for f in futures:
            f.get(timeout=30)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        seen: set[int] = set()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + 60
        while seen != set(partitions):
            assert time.monotonic() < deadline, f"sentinels not all read from {topic}"
            for tp, batch in consumer.poll(timeout_ms=200).items():
                for rec in batch:
                    mark = dict(rec.headers or []).get(SENTINEL_HEADER)
                    if mark == token:
                        seen.add(tp.partition)
                    elif mark is None:  # not a sentinel of an earlier drain
                        records.append(rec)
        return records
    finally:
        consumer.close()
        producer.close(timeout=5)


# -- data -----------------------------------------------------------------------------------


def make_alert(case_id: str | None = None) -> AlertIssued:
    return AlertIssued(
        case_id=case_id or f"POL-0001-IT-{uuid.uuid4().hex[:8]}",
        issuing_unit="Sampleville Police Test Unit",
        chief_officer=ResponsibleOfficer(officer_id="OFF-1", name="Officer Example", unit="Unit 1"),
        child=ChildDescription(name="Test Child A", sex="female", age_years=8),
        last_seen=Location(latitude=10.5, longitude=20.25, description="Sampleville park"),
        last_seen_at=datetime.now(UTC) - timedelta(hours=1),
        public_summary="Synthetic test alert: Test Child A, Sampleville.",
    )


def alert_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = make_alert().model_dump(mode="json", exclude={"actor"})
    body.update(overrides)
    return body


# -- tests ----------------------------------------------------------------------------------


def test_a_valid_alert_is_published_once_with_cloudevents_headers(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake(HOMEWARD_INTAKE_SOURCE_NAME="it-instance-1")
    alert = make_alert()
    with intake.client() as client:
        answer = client.issue_alert(alert)
    assert answer.topic == bus.topic("alert_events")
    assert answer.case_id == alert.case_id

    [record] = drain(bus, "alert_events")
    assert record.key == alert.case_id.encode()
    decoded = Codec().decode(record.value, record.headers)
    assert decoded.event.model_copy(update={"actor": None}) == alert
    assert decoded.event.actor is not None
    assert (decoded.event.actor.principal, decoded.event.actor.agency_id) == (
        "police-case-system",
        "POL-0001",
    )
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == answer.event_id
    assert headers["ce_type"] == "homeward.alerts.AlertIssued" == answer.type
    # The system that sent it, through this intake instance.
    assert headers["ce_source"] == "/homeward/intake/it-instance-1/police-case-system"
    assert headers["ce_subject"] == alert.case_id
    assert headers["content-type"] == "application/avro"
    assert decoded.meta.time == answer.accepted_at


def test_a_retry_with_the_same_key_gives_the_same_answer_and_one_record(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    alert = make_alert()
    with intake.client() as client:
        first = client.issue_alert(alert, idempotency_key="it-retry-1")
        again = client.issue_alert(alert, idempotency_key="it-retry-1")
    assert again == first
    raw = httpx.post(
        f"{intake.url}/v1/alerts",
        json=alert.model_dump(mode="json", exclude={"actor"}),
        headers={"Idempotency-Key": "it-retry-1", **intake.auth()},
    )
    assert raw.status_code == 202
    assert raw.headers["Idempotent-Replayed"] == "true"
    assert Accepted.model_validate(raw.json()) == first

    conflict = httpx.post(
        f"{intake.url}/v1/alerts",
        json=alert_json(case_id=alert.case_id, details="different"),
        headers={"Idempotency-Key": "it-retry-1", **intake.auth()},
    )
    assert conflict.status_code == 409
    assert conflict.json()["errors"][0]["field"] == "Idempotency-Key"

    records = drain(bus, "alert_events")
    assert len(records) == 1
    assert dict(records[0].headers)["ce_id"].decode() == first.event_id


MALFORMED: list[tuple[str, bytes, int, str]] = [
    ("bad json", b'{"case_id": "C-1",', 400, "body"),
    ("missing field", b"", 422, "child"),
    ("wrong type", b"", 422, "child.age_years"),
    ("age 40", b"", 422, "child.age_years"),
    ("naive datetime", b"", 422, "last_seen_at"),
    ("extra field", b"", 422, "nickname"),
]


def malformed_body(name: str, raw: bytes) -> bytes:
    import json

    if raw:
        return raw
    body = alert_json()
    if name == "missing field":
        del body["child"]
    elif name == "wrong type":
        body["child"]["age_years"] = "eight"
    elif name == "age 40":
        body["child"]["age_years"] = 40
    elif name == "naive datetime":
        body["last_seen_at"] = "2026-01-01T08:00:00"
    elif name == "extra field":
        body["nickname"] = "Test"
    return json.dumps(body).encode()


def test_malformed_bodies_are_refused_naming_the_field_and_nothing_is_published(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    for name, raw, status, field_name in MALFORMED:
        resp = httpx.post(
            f"{intake.url}/v1/alerts",
            content=malformed_body(name, raw),
            headers={
                "content-type": "application/json",
                "Idempotency-Key": f"bad-{name}",
                **intake.auth(),
            },
        )
        assert resp.status_code == status, (name, resp.text)
        assert field_name in [e["field"] for e in resp.json()["errors"]], (name, resp.text)
    with intake.client() as client, pytest.raises(IntakeError) as info:
        client.issue_alert(
            **alert_json(child={"name": "Test Child A", "sex": "x", "age_years": 40})
        )
    assert info.value.status == 422
    assert set(info.value.fields) == {"child.sex", "child.age_years"}
    assert drain(bus, "alert_events") == []


def test_case_events_are_published_in_order_on_one_partition(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    intake = start_intake()
    alert = make_alert()
    with intake.client() as client:
        answers = [
            client.issue_alert(alert),
            client.update_alert(alert.case_id, new_information="Seen in a blue test cap."),
            client.report_sighting(
                alert.case_id,
                sighting_id="SIGHT-1",
                location={"latitude": 10.6, "longitude": 20.3, "description": "Sampleville stn"},
                seen_at=datetime.now(UTC),
                reporter_kind="public",
                description="Test sighting.",
            ),
            client.cancel_alert(alert.case_id, "FOUND", "Found safe (test)."),
        ]
    records = drain(bus, "alert_events")
    assert [dict(r.headers)["ce_id"].decode() for r in records] == [a.event_id for a in answers]
    assert len({r.partition for r in records}) == 1
    types = [Codec().decode(r.value, r.headers).meta.type.rsplit(".", 1)[1] for r in records]
    assert types == ["AlertIssued", "AlertUpdated", "SightingReported", "AlertCancelled"]


def test_a_restarted_intake_rebuilds_its_answers_from_the_compacted_topic(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    alert = make_alert()
    first_instance = start_intake()
    with first_instance.client() as client:
        first = client.issue_alert(alert, idempotency_key="it-restart-1")
    first_instance.stop()

    second_instance = start_intake()
    with second_instance.client() as client:
        again = client.issue_alert(alert, idempotency_key="it-restart-1")
    assert again == first
    assert len(drain(bus, "alert_events")) == 1
    [remembered] = [r for r in drain(bus, "intake_requests") if r.key == b"it-restart-1"]
    import json

    assert json.loads(remembered.value)["response"]["event_id"] == first.event_id


def test_instances_share_answers_through_the_log(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    a, b = start_intake(), start_intake()
    alert = make_alert()
    with a.client() as client_a, b.client() as client_b:
        first = client_a.issue_alert(alert, idempotency_key="it-shared-1")
        # Straight away: the store catches up with the log before calling a key new.
        again = client_b.issue_alert(alert, idempotency_key="it-shared-1")
    assert again == first
    assert len(drain(bus, "alert_events")) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_kafka_intake_is_alive_not_ready_and_answers_503(tmp_path: Path, idp: Idp) -> None:
    env = dict(os.environ)
    env.update(
        HOMEWARD_OIDC_ISSUER=idp.issuer,
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{_closed_port()}",
        HOMEWARD_INTAKE_PORT="0",
        HOMEWARD_INTAKE_STARTUP_TIMEOUT_SECONDS="2",
        HOMEWARD_INTAKE_PUBLISH_TIMEOUT_SECONDS="2",
        PYTHONUNBUFFERED="1",
    )
    ip = spawn(env, tmp_path / "intake-nokafka.log")
    try:
        url = ip.wait_for("INTAKE_LISTENING")
        assert httpx.get(f"{url}/healthz").status_code == 200
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["producer"] is False
        police = idp.client("police-case-system")
        auth = {"Authorization": f"Bearer {police.token()}"}
        resp = httpx.post(
            f"{url}/v1/alerts", json=alert_json(), headers={"Idempotency-Key": "k", **auth}
        )
        assert resp.status_code == 503
        assert resp.json()["error"] == "unavailable"
        assert "Kafka" in resp.json()["message"]
        with (
            IntakeClient(url, token_provider=police) as client,
            pytest.raises(IntakeError) as info,
        ):
            client.issue_alert(make_alert())
        assert info.value.status == 503
    finally:
        ip.stop()


def _max_message_bytes(bus: Bus, topic_id: str, value: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(**bus.settings.kafka_python())
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC, bus.topic(topic_id), {"max.message.bytes": value}
                )
            ]
        )
    finally:
        admin.close()


def test_a_write_the_broker_refuses_for_good_is_a_clear_500_not_an_outage(
    bus: Bus, start_intake: Callable[..., IntakeProcess]
) -> None:
    # A real refusal: the alert topic takes no record larger than 200 bytes, so the
    # broker answers MESSAGE_TOO_LARGE for good (as it would for a missing grant).
    intake = start_intake()
    open_case = alert_json()
    issued = httpx.post(f"{intake.url}/v1/alerts", json=open_case, headers=intake.auth())
    assert issued.status_code == 202, issued.text
    drain(bus, "alert_events")  # (drain returns what came before its sentinels)
    _max_message_bytes(bus, "alert_events", "200")
    refused = httpx.post(f"{intake.url}/v1/alerts", json=alert_json(), headers=intake.auth())
    assert refused.status_code == 500, refused.text
    body = refused.json()
    assert body["error"] == "publish_refused"
    assert "MessageSizeTooLargeError" in body["errors"][0]["reason"]
    # The topic is internal: the caller is not told it (the log and the metric are).
    assert bus.topic("alert_events") not in refused.text
    assert "Retry-After" not in refused.headers  # a retry would only repeat it
    # Intake stays ready: only this topic refuses (its producer renews itself, since
    # after a refusal kafka-python's idempotent producer refuses every topic).
    assert httpx.get(f"{intake.url}/readyz").status_code == 200
    metrics = httpx.get(f"{intake.url}/metrics").text
    assert (
        f'homeward_publish_refused_total{{reason="MessageSizeTooLargeError",service="intake",'
        f'topic="{bus.topic("alert_events")}"}} 1.0'
    ) in metrics
    assert len(drain(bus, "alert_events")) == 1  # the open case's alert only
    # Every other topic is served again.
    rescue = samples.rescue(case_id=open_case["case_id"])
    rescued = httpx.post(f"{intake.url}/v1/rescues", json=rescue, headers=intake.auth())
    assert rescued.status_code == 202, rescued.text
    assert len(drain(bus, "rescues")) == 1
