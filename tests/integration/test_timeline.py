"""The case timeline on the real broker: a case's events spread over the five
case topics (some through intake, some written here as the fan-out, an agency
and the router would), read back through the CLI function, the CLI process
and intake's HTTP route: in order, only this case's, redacted without
police clearance."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from homeward import kafka as hkafka
from homeward.codec import Codec, Record
from homeward.events import (
    AgencyAcknowledgement,
    AlertIssued,
    ReferralAnswered,
    ReferralStatusChanged,
    RescueNotified,
    TaskStatus,
)
from homeward_timeline import cli
from tests.fixtures.bus import Bus
from tests.fixtures.intake import IntakeProcess
from tests.unit.intake import samples

pytestmark = pytest.mark.integration

codec = Codec()


EXPECTED = [
    "AlertIssued",
    "SightingReported",
    "AlertCancelled",
    "RescueNotified",
    "DnaComparisonRecorded",
    "ReferralStatusChanged",
    "ReferralAnswered",
    "AgencyAcknowledgement",
]
POLICE_ONLY = {"RescueNotified", "DnaComparisonRecorded", "ReferralAnswered"}


def neighbour(case: str, partitions: int) -> str:
    """Another case id on the same partition (its records must be skipped)."""
    mine = hkafka.partition_for(case.encode(), partitions)
    for i in range(10_000):
        other = f"{case}-N{i}"
        if hkafka.partition_for(other.encode(), partitions) == mine:
            return other
    raise AssertionError("no neighbour found")


def produce(bus: Bus, sends: list[tuple[str, Record]]) -> None:
    producer = hkafka.producer(bus.settings)
    try:
        hkafka.send_all(producer, sends)
    finally:
        producer.close()


def play_case(bus: Bus, intake: IntakeProcess) -> tuple[str, dict[str, str]]:
    """Publish one case's history; returns the case id and event ids by type."""
    case = f"POL-0001-TL-{uuid.uuid4().hex[:8]}"
    other = neighbour(case, bus.partitions)
    ids: dict[str, str] = {}
    with intake.client() as client, intake.client("police-forensics-lab") as lab:
        alert = AlertIssued.model_validate(samples.alert(case_id=case))
        ids["AlertIssued"] = client.issue_alert(alert).event_id
        client.issue_alert(AlertIssued.model_validate(samples.alert(case_id=other)))
        ids["SightingReported"] = client.report_sighting(case, **samples.sighting()).event_id
        ids["AlertCancelled"] = client.cancel_alert(case, "FOUND", "Found safe (test).").event_id
        # The alert is closed already (found): the rescue does not close it again.
        rescue = RescueNotified.model_validate(samples.rescue(case_id=case, closes_alert=False))
        ids["RescueNotified"] = client.notify_rescue(rescue).event_id
        last = lab.record_dna_comparison(case, **samples.dna_comparison())
        ids["DnaComparisonRecorded"] = last.event_id
    # The router, a police answer and an agency's acknowledgement, each a
    # millisecond after the last, so the order is the one written.
    t = last.accepted_at
    changed = ReferralStatusChanged(
        case_id=case,
        referral_id="REF-TL-1",
        rule_id="dna_sampling",
        agency_id="PS-TL-1",
        agency_type="police",
        offer=1,
        status=TaskStatus.REQUESTED,
        changed_at=t,
    )
    answer = ReferralAnswered(
        case_id=case,
        referral_id="REF-TL-1",
        agency_id="PS-TL-1",
        status=TaskStatus.ACCEPTED,
        note=f"Sample {samples.DNA_CANARY} taken (test).",
    )
    ack = AgencyAcknowledgement(case_id=case, delivery_id="DLV-TL-1", agency_id="TRN-TL-1")
    sends: list[tuple[str, Record]] = []
    for i, (topic_id, event, source) in enumerate(
        [
            ("referral_events", changed, "/homeward/referrals/test"),
            ("police_referrals", answer, "urn:homeward:agency:PS-TL-1"),
            ("alert_acks", ack, "urn:homeward:agency:TRN-TL-1"),
        ],
        start=1,
    ):
        record, meta = codec.encode(
            event, key=case, source=source, time=t + timedelta(milliseconds=i)
        )
        ids[type(event).__name__] = meta.id
        sends.append((bus.topic(topic_id), record))
    # One the timeline cannot read (counted) and one of the neighbour's (not counted).
    sends.append((bus.topic("referral_events"), Record(case.encode(), b"\x00not avro", [])))
    sends.append(
        (
            bus.topic("alert_acks"),
            codec.encode(ack.model_copy(update={"case_id": other}), key=other, source="/t")[0],
        )
    )
    produce(bus, sends)
    return case, ids


def check(doc: dict[str, Any], case: str, ids: dict[str, str], police: bool, bus: Bus) -> None:
    entries = doc["entries"]
    kinds = [e["type"].rsplit(".", 1)[1] for e in entries]
    times = [e["time"] for e in entries]
    assert times == sorted(times)
    if len(set(times)) == len(times):  # within one millisecond the topic decides
        assert kinds == EXPECTED
    assert sorted(kinds) == sorted(EXPECTED)
    assert doc["skipped"] == 1 and doc["case_id"] == case
    partition = hkafka.partition_for(case.encode(), bus.partitions)
    assert set(doc["partitions"].values()) == {partition} and len(doc["partitions"]) == 6
    for entry in entries:
        kind = entry["type"].rsplit(".", 1)[1]
        hidden = kind in POLICE_ONLY and not police
        if kind in POLICE_ONLY:
            assert entry["classification"] == "police-only"
        if hidden:
            assert entry["summary"] is None and entry["event_id"] is None
        else:
            assert entry["summary"] and entry["event_id"] == ids[kind]
    text = json.dumps(doc)
    for secret in ("Test Child A", samples.DNA_CANARY, "Officer Example", "Test notes"):
        assert secret not in text


def test_the_timeline_through_the_cli_and_http(
    bus: Bus,
    start_intake: Callable[..., IntakeProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    intake = start_intake()
    case, ids = play_case(bus, intake)
    env = bus.env("intake")  # the timeline reads what intake's timeline reads
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "HOMEWARD_TOPIC_PREFIX", *bus.credentials("intake")):
        monkeypatch.setenv(name, env[name])

    # The CLI function, as JSON, both clearances.
    for police in (False, True):
        out = io.StringIO()
        argv = [case, "--json", *(["--police"] if police else [])]
        assert cli.main(argv, out=out) == 0
        check(json.loads(out.getvalue()), case, ids, police, bus)

    # The CLI process, as text.
    done = subprocess.run(
        [sys.executable, "-m", "homeward_timeline", case],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"case {case}: 8 event(s)")
    assert sum("(police only)" in line for line in lines) == 3
    assert samples.DNA_CANARY not in done.stdout and "Test Child A" not in done.stdout

    # Intake's route: the same query.
    # The coordination office's token: police-only entries by type and time only.
    office = intake.auth("coordination-system")
    resp = httpx.get(f"{intake.url}/v1/cases/{case}/timeline", timeout=60, headers=office)
    assert resp.status_code == 200, resp.text
    check(resp.json(), case, ids, False, bus)
    # Without a token, nothing at all.
    assert httpx.get(f"{intake.url}/v1/cases/{case}/timeline", timeout=60).status_code == 401
    with intake.client(timeout=60) as client:  # police: the token decides, no parameter
        police_view = client.timeline(case)
    check(police_view.model_dump(mode="json"), case, ids, True, bus)
    answer = next(e for e in police_view.entries if e.type.endswith("ReferralAnswered"))
    assert answer.summary == "PS-TL-1 answered referral REF-TL-1: accepted"
