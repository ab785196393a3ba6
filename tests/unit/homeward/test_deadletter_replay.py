"""Choosing dead letters and where they may go back to, without a broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from homeward import deadletter_replay as dr
from homeward.topology import Topology

TOPOLOGY = Topology.load(prefix="")
ANSWERS = TOPOLOGY.get("referral_answers").name
MEDIA_INBOX = TOPOLOGY.inbox("media").name


def letter(
    origin: str, reason: str = "not an agency in the directory", **h: bytes
) -> dr.DeadLetter:
    headers = {
        "ce_id": b"evt-1",
        "ce_classification": b"restricted",
        "dlq_reason": reason.encode(),
        "dlq_field": b"agency_id",
        "dlq_topic": origin.encode(),
        "dlq_service": b"referrals",
        **h,
    }
    at = int(datetime(2026, 1, 2, 3, 4, tzinfo=UTC).timestamp() * 1000)
    return dr.DeadLetter(1, 7, at, b"CASE-1", b"\x00synthetic", tuple(headers.items()))


def test_the_replayed_record_loses_its_dlq_headers_and_names_who_sent_it() -> None:
    rec = letter(ANSWERS).record("Test Operator as operator")
    h = dict(rec.headers)
    assert not any(k.startswith("dlq_") for k in h)
    assert h["ce_id"] == b"evt-1" and h[dr.REPLAY_HEADER] == b"Test Operator as operator"
    assert (rec.key, rec.value) == (b"CASE-1", b"\x00synthetic")


def test_filters_by_reason_origin_time_and_offset() -> None:
    d = letter(ANSWERS)
    assert dr.Selection(reason="NOT AN AGENCY", origin="referral_answers").holds(d, TOPOLOGY)
    assert dr.Selection(origin=ANSWERS, service="referrals").holds(d, TOPOLOGY)
    assert not dr.Selection(reason="ce_specversion").holds(d, TOPOLOGY)
    assert not dr.Selection(origin="alert_events").holds(d, TOPOLOGY)
    assert dr.Selection(since=datetime(2026, 1, 1, tzinfo=UTC)).holds(d, TOPOLOGY)
    assert not dr.Selection(until=datetime(2026, 1, 1, tzinfo=UTC)).holds(d, TOPOLOGY)
    assert dr.Selection(partition=1, from_offset=7, to_offset=7).holds(d, TOPOLOGY)
    assert not dr.Selection(from_offset=8).holds(d, TOPOLOGY)


def test_only_topology_topics_and_never_a_less_sensitive_one() -> None:
    assert dr.target(letter(ANSWERS), TOPOLOGY) == ANSWERS
    with pytest.raises(ValueError, match="not a topic of the topology"):
        dr.target(letter("someone.elses.topic"), TOPOLOGY)
    with pytest.raises(ValueError, match="not a topic records are replayed to"):
        dr.target(letter(TOPOLOGY.get("dead_letters").name), TOPOLOGY)
    police_only = letter(MEDIA_INBOX, ce_classification=b"police-only")
    with pytest.raises(ValueError, match="may not go to restricted topic"):
        dr.target(police_only, TOPOLOGY)


def test_the_summary_counts_by_origin_service_and_reason() -> None:
    a, b = letter(ANSWERS), letter(ANSWERS)
    rows = dr.summary([a, b], {a.ref: ["Test Operator at now"]})
    assert rows == [
        {
            "origin": ANSWERS,
            "service": "referrals",
            "reason": "agency_id: not an agency in the directory",
            "count": 2,
            "replayed": 2,  # the same ref: both copies count as replayed
        }
    ]
