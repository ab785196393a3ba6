"""Assembling a timeline from records (no broker): the case's records only, in
ce_time order then topic and offset, undecodable ones counted, police-only
entries redacted without clearance; and the CLI's output and argument checks."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from homeward.codec import Codec
from homeward.events import (
    AgencyAcknowledgement,
    AlertCancelled,
    CancelReason,
    Event,
    ReferralAnswered,
    ReferralStatusChanged,
    TaskStatus,
)
from homeward_timeline.cli import format_entry, format_text, main
from homeward_timeline.query import assemble
from tests.conformance.strategies import samples

codec = Codec()
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
CASE = "CASE-0001"
POLICE_TOPICS = frozenset({"police.rescues.v1", "police.referrals.v1"})


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def rec(topic: str, offset: int, event: Event, at: datetime, key: str = CASE) -> Rec:
    record, _meta = codec.encode(event, key=key, source="/test", time=at)
    return Rec(topic, 2, offset, record.key, record.value, list(record.headers))


def events() -> dict[str, Event]:
    by_short = {name.rsplit(".", 1)[1]: e for name, e in samples().items()}
    return by_short


def case_records() -> list[Rec]:
    e = events()
    changed = ReferralStatusChanged(
        case_id=CASE,
        referral_id="REF-1",
        rule_id="dna_sampling",
        agency_id="PS-1",
        agency_type="police",
        offer=1,
        status=TaskStatus.REQUESTED,
        changed_at=T0,
    )
    police_answer = ReferralAnswered(
        case_id=CASE,
        referral_id="REF-1",
        agency_id="PS-1",
        status=TaskStatus.ACCEPTED,
        note="Test note with sample DNA-TEST-1",
    )
    return [
        rec("alerts.events.v1", 0, e["AlertIssued"], T0),
        rec("alerts.events.v1", 1, e["AlertIssued"], T0, key="CASE-OTHER"),
        rec("police.rescues.v1", 0, e["RescueNotified"], T0 + timedelta(minutes=5)),
        rec("referrals.events.v1", 0, changed, T0 + timedelta(minutes=6)),
        rec("alerts.acks.v1", 0, e["AgencyAcknowledgement"], T0 + timedelta(minutes=1)),
        rec("police.referrals.v1", 0, police_answer, T0 + timedelta(minutes=7)),
        # Same time as the cancellation below: the topic, then the offset decide.
        rec(
            "alerts.events.v1",
            3,
            AlertCancelled(case_id=CASE, reason=CancelReason.FOUND),
            T0 + timedelta(minutes=5),
        ),
        Rec("alerts.events.v1", 2, 4, CASE.encode(), b"\x00not avro", []),
    ]


def test_the_cases_events_in_order_with_police_entries_redacted() -> None:
    timeline = assemble(
        CASE, case_records(), police=False, police_topics=POLICE_TOPICS, partitions={"t": 2}
    )
    kinds = [e.type.rsplit(".", 1)[1] for e in timeline.entries]
    assert kinds == [
        "AlertIssued",
        "AgencyAcknowledgement",
        "AlertCancelled",
        "RescueNotified",
        "ReferralStatusChanged",
        "ReferralAnswered",
    ]
    assert (timeline.records_read, timeline.skipped, timeline.partitions) == (8, 1, {"t": 2})
    rescue, changed, answer = timeline.entries[3:]
    for hidden in (rescue, answer):  # police-only by header, or by the topic it is on
        assert hidden.classification.value == "police-only"
        assert (hidden.summary, hidden.topic, hidden.event_id, hidden.source) == (None,) * 4
    # Where a referral is, the victim is: the agency only with police clearance.
    assert changed.summary == (
        "referral REF-1 (dna_sampling) at [agency withheld] (police), offer 1: requested"
    )
    assert changed.classification.value == "restricted" and changed.event_id
    text = timeline.model_dump_json()
    assert "Test Child" not in text and "DNA-TEST-1" not in text


def test_police_clearance_shows_every_summary_but_never_notes_or_dna() -> None:
    timeline = assemble(CASE, case_records(), police=True, police_topics=POLICE_TOPICS)
    assert timeline.clearance == "police"
    assert all(e.summary for e in timeline.entries)
    answer = timeline.entries[-1]
    assert answer.summary == "PS-1 answered referral REF-1: accepted"
    assert answer.topic == "police.referrals.v1"
    text = timeline.model_dump_json()
    assert "DNA-TEST-1" not in text and "FAKE-PROFILE" not in text and "Test Child" not in text


def test_an_ack_entry_carries_its_causation() -> None:
    ack = AgencyAcknowledgement(case_id=CASE, delivery_id="D-1", agency_id="TRN-1")
    record, _ = codec.encode(ack, key=CASE, source="/t", causation_id="delivery-ce-id", time=T0)
    timeline = assemble(
        CASE, [Rec("alerts.acks.v1", 0, 0, record.key, record.value, record.headers)], police=False
    )
    [entry] = timeline.entries
    assert entry.causation_id == "delivery-ce-id"
    assert entry.summary == "TRN-1 acknowledged delivery D-1"


def test_the_text_form_is_one_line_per_event() -> None:
    timeline = assemble(CASE, case_records(), police=False, police_topics=POLICE_TOPICS)
    lines = format_text(timeline).splitlines()
    assert lines[0].startswith(f"case {CASE}: 6 event(s)")
    assert "1 undecodable skipped" in lines[0]
    assert len(lines) == 7
    assert lines[1].startswith("2026-03-01T08:00:00.000Z  AlertIssued")
    assert lines[4].endswith("(police only)") and "RescueNotified" in lines[4]
    entry = timeline.entries[0].model_copy(update={"summary": "two\nlines\x1b[2J"})
    assert "\n" not in format_entry(entry) and "\x1b" not in format_entry(entry)


@pytest.mark.parametrize("argv", [["bad id"], ["C1", "--timeout", "0"]])
def test_bad_arguments_exit_2_before_any_kafka(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, out=io.StringIO()) == 2
    assert "error:" in capsys.readouterr().err


def test_unreachable_kafka_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from homeward_timeline import cli
    from homeward_timeline.query import TimelineUnavailable

    class Down:
        def __init__(self, *_a: object, **_kw: object) -> None:
            pass

        def __call__(self, case_id: str, *, police: bool = False) -> None:
            raise TimelineUnavailable("cannot reach Kafka (test)", field="kafka")

    monkeypatch.setattr(cli, "TimelineQuery", Down)
    assert main(["C1"], out=io.StringIO()) == 1


def test_json_output_is_the_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    from homeward_timeline import cli

    records = case_records()

    class Canned:
        def __init__(self, *_a: object, **_kw: object) -> None:
            pass

        def __call__(self, case_id: str, *, police: bool = False) -> object:
            return assemble(case_id, records, police=police, police_topics=POLICE_TOPICS)

    monkeypatch.setattr(cli, "TimelineQuery", Canned)
    out = io.StringIO()
    assert main([CASE, "--json", "--police"], out=out) == 0
    doc = json.loads(out.getvalue())
    assert doc["clearance"] == "police" and len(doc["entries"]) == 6
