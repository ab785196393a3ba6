"""Timeline summaries: one line per event type, naming statuses, agencies and
services, never a person's name, DNA data or free text (property-tested over
every event type the models allow)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from homeward.events import EVENT_TYPES, DnaComparisonRecorded, Event
from homeward_timeline.summary import AT_AN_AGENCY, SUMMARIES, WITHHELD, summarize
from tests.conformance.strategies import for_model, samples

# Fields whose values a summary must never show: names, DNA data, free text.
PRIVATE = frozenset(
    {
        "name",
        "child_name",
        "phone",
        "profile",
        "sample_id",
        "matched_record",
        "note",
        "notes",
        "description",
        "observed",
        "details",
        "new_information",
        "public_summary",
        "summary",
        "clothing",
        "distinguishing_marks",
        "photo_ref",
        "reason",  # a refusal's free-text reason (coded reasons are enums, shown)
        "contact",
    }
)


def strings(value: Any, private: bool = False) -> list[tuple[bool, str]]:
    """Every string in a model, marked private or not by the field it sits in."""
    out: list[tuple[bool, str]] = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            out += strings(getattr(value, name), private or name in PRIVATE)
    elif isinstance(value, list | tuple):
        for item in value:
            out += strings(item, private)
    elif isinstance(value, str) and not hasattr(value, "value"):  # enums are codes
        out.append((private, value))
    return out


def leaks(event: Event) -> list[str]:
    line = summarize(event)
    found = strings(event)
    shown = [s for p, s in found if not p]
    return [
        s
        for p, s in found
        # A private value is a leak if it shows, unless a public value also holds it.
        if p and len(s.strip()) >= 4 and s in line and not any(s in v for v in shown)
    ]


def test_every_event_type_a_timeline_topic_carries_has_its_own_line() -> None:
    names = {cls.avro_name for cls in SUMMARIES}
    for short in (
        "AlertIssued",
        "AlertUpdated",
        "SightingReported",
        "RadiusExpanded",
        "AlertCancelled",
        "AgencyAcknowledgement",
        "RescueNotified",
        "ReferralAnswered",
        "DnaComparisonRecorded",
        "ReferralStatusChanged",
        "ReferralAnswerRefused",
        "ReferralOverdue",
        "ReferralEscalated",
        "ReportOverdue",
        "TipOverdue",
        "CaseOutcomeRecorded",
    ):
        assert any(n.endswith("." + short) for n in names), short


@pytest.mark.parametrize("name", sorted(samples()))
def test_the_fixed_samples_have_one_line_without_private_values(name: str) -> None:
    event = samples()[name]
    line = summarize(event)
    assert line and "\n" not in line
    assert leaks(event) == [], line


def test_a_dna_comparison_shows_neither_the_sample_nor_the_result() -> None:
    event = next(e for e in samples().values() if isinstance(e, DnaComparisonRecorded))
    line = summarize(event)
    assert event.sample_id not in line and event.result not in line
    assert event.database in line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(EVENT_TYPES)))
def test_no_summary_shows_a_private_value(data: st.DataObject, name: str) -> None:
    event = data.draw(for_model(EVENT_TYPES[name]))
    assert leaks(event) == [], summarize(event)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cls=st.sampled_from(AT_AN_AGENCY))
def test_without_clearance_a_referral_never_names_the_agency_it_is_at(
    data: st.DataObject, cls: type[Event]
) -> None:
    # The agency holding a referral is where the victim is (a placement is the shelter).
    event = data.draw(for_model(cls))
    agency = event.agency_id  # type: ignore[attr-defined]
    line = summarize(event, police=False)
    assert WITHHELD in line
    # Drawn ids may also occur in the line's other parts (an id "1" in "offer 1").
    rest = summarize(event.model_copy(update={"agency_id": "\0"}))
    assume(agency not in rest.replace("\0", ""))
    assert agency not in line.replace(WITHHELD, "")  # "[agency withheld]" holds letters too
    assert agency in summarize(event, police=True)
