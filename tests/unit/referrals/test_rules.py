"""The routing rules as data: loading, refusing bad rows by row and field,
deadline overrides, and which rows a rescued person gets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from homeward.agencies import AgencyType
from homeward.errors import ConfigError
from homeward.events import HouseholdRegistration, RescuedPerson
from homeward_referrals.rules import (
    load_rules,
    parse_duration,
    parse_overrides,
    parse_rules,
    referrals_file,
)

EVERY_VICTIM = {"psychological_care", "legal_aid", "special_file"}


def raw_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load(referrals_file().read_text())["rules"]
    return rows


def test_the_repos_table_loads_with_every_row_typed() -> None:
    rules = load_rules()
    assert [r.id for r in rules] == [row["id"] for row in raw_rows()]
    by_id = {r.id: r for r in rules}
    assert by_id["dna_sampling"].to == AgencyType.POLICE
    assert by_id["dna_sampling"].answer == timedelta(hours=2)
    assert by_id["dna_sampling"].complete == timedelta(days=3)
    assert by_id["schooling"].when.age_min == 6 and by_id["schooling"].when.child is True
    assert all(r.cites and r.service for r in rules)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT2H", timedelta(hours=2)),
        ("P3D", timedelta(days=3)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT90M", timedelta(minutes=90)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("P2W", timedelta(weeks=2)),
        ("pt1h", timedelta(hours=1)),
    ],
)
def test_iso_8601_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "2H", "P1M", "P1Y", "PT-1H", "1 day", 5])
def test_what_is_not_a_duration_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


def good_row(**kw: Any) -> dict[str, Any]:
    row = {
        "id": "legal_aid",
        "service": "Priority legal aid",
        "to": "justice",
        "when": {},
        "answer": "P1D",
        "complete": "P30D",
        "cites": "Ninghe 三4",
    }
    row.update(kw)
    return row


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        (good_row(to="lawyers"), "rules[1].to", "unknown agency type 'lawyers'"),
        (good_row(answer="tomorrow"), "rules[1].answer", "not an ISO 8601 duration"),
        (good_row(complete=None), "rules[1].complete", "missing"),
        (good_row(answer="P40D"), "rules[1].answer", "after the completion deadline"),
        (good_row(answer="PT0S"), "rules[1].answer", "longer than zero"),
        (good_row(id="Legal Aid"), "rules[1].id", "lower-case"),
        (good_row(when={"adult": True}), "rules[1].when.adult", "unknown condition"),
        (good_row(when={"child": "yes"}), "rules[1].when.child", "true or false"),
        (good_row(when={"age_years": 6}), "rules[1].when.age_years", "{min: N, max: N}"),
        (good_row(when={"age_years": {"min": -1}}), "rules[1].when.age_years.min", "0 to 120"),
        (
            good_row(when={"age_years": {"min": 10, "max": 5}}),
            "rules[1].when.age_years",
            "min is above max",
        ),
        (good_row(whom="x"), "rules[1].whom", "unknown key"),
        (good_row(cites="x" * 201), "rules[1].cites", "at most 200"),
        (good_row(id="first"), "rules[1].id", "already used"),
        ("not a mapping", "rules[1]", "mapping"),
    ],
)
def test_a_bad_row_is_refused_naming_the_row_and_the_field(
    row: Any, field: str, words: str
) -> None:
    doc = {"rules": [good_row(id="first"), row]}
    with pytest.raises(ConfigError) as caught:
        parse_rules(doc)
    assert caught.value.field == field
    assert words in caught.value.reason
    if isinstance(row, dict) and isinstance(row.get("id"), str):
        assert f"rule {row['id']!r}" in str(caught.value)  # the row is named by its id too


@pytest.mark.parametrize("doc", [None, {}, {"rules": {}}, {"rules": []}])
def test_a_file_without_rules_is_refused(doc: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(doc)
    assert caught.value.field == "rules"


def test_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "referrals.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(ConfigError) as caught:
        load_rules(bad)
    assert caught.value.field == str(bad)


def test_deadline_overrides_replace_either_deadline_of_the_named_rules() -> None:
    rules = load_rules(deadlines="legal_aid=PT1H/P2D, schooling=/P10D")
    by_id = {r.id: r for r in rules}
    assert (by_id["legal_aid"].answer, by_id["legal_aid"].complete) == (
        timedelta(hours=1),
        timedelta(days=2),
    )
    assert (by_id["schooling"].answer, by_id["schooling"].complete) == (
        timedelta(days=3),
        timedelta(days=10),
    )
    assert by_id["dna_sampling"].answer == timedelta(hours=2)  # untouched


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("legal_aid=PT1H", "'<rule id>=<answer>/<complete>'"),
        ("legal_aid=/", "'<rule id>=<answer>/<complete>'"),
        ("=PT1H/P1D", "'<rule id>=<answer>/<complete>'"),
        ("legal_aid=soon/P1D", "ISO 8601"),
        ("legal_aid=PT1H/P1D,legal_aid=PT2H/P1D", "given twice"),
    ],
)
def test_malformed_overrides_are_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_overrides(text)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nobody=PT1H/P1D", "no rule with id nobody"),
        ("welfare_placement=P2D/", "after the completion deadline"),
        ("legal_aid=PT1H", "'<rule id>=<answer>/<complete>'"),
    ],
)
def test_overrides_that_do_not_fit_the_rules_are_refused_naming_the_setting(
    text: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules(deadlines=text)
    assert caught.value.field == "HOMEWARD_REFERRALS_DEADLINES"
    assert words in caught.value.reason


# -- which rows a person gets --------------------------------------------------


def holds(when: dict[str, Any], p: RescuedPerson) -> bool:
    """The table's `when`, read independently of rules.py (as the file's header says)."""
    facts = {
        "child": p.age_years < 18,
        "guardians_known": p.guardians_known,
        "identity_known": p.identity_known,
        "disabled": len(p.disabilities) > 0,
        "has_means": p.has_means,
    }
    for key, want in when.items():
        if key == "age_years":
            if p.age_years < want.get("min", 0) or p.age_years > want.get("max", 10**6):
                return False
        elif facts[key] != want:
            return False
    return True


people = st.builds(
    RescuedPerson,
    name=st.just("Test Person 1"),
    sex=st.sampled_from(["female", "male", "unknown"]),
    age_years=st.integers(0, 120),
    age_estimated=st.booleans(),
    guardians_known=st.booleans(),
    identity_known=st.booleans(),
    disabilities=st.lists(st.sampled_from(["hearing", "visual", "intellectual"]), max_size=2),
    household_registration=st.sampled_from(list(HouseholdRegistration)),
    has_means=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(p=people)
def test_each_person_gets_exactly_the_rows_whose_conditions_hold(p: RescuedPerson) -> None:
    rules = load_rules()
    got = [r.id for r in rules.matching(p)]
    assert got == [row["id"] for row in raw_rows() if holds(row.get("when") or {}, p)]
    assert set(got) >= EVERY_VICTIM


def test_the_rows_a_child_without_guardians_gets() -> None:
    rules = load_rules()
    child = RescuedPerson(
        sex="male",
        age_years=7,
        guardians_known=False,
        identity_known=False,
        household_registration=HouseholdRegistration.UNKNOWN,
    )
    assert [r.id for r in rules.matching(child)] == [
        "dna_sampling",
        "welfare_placement",
        "health_check",
        "family_search_notice",
        "admission_registration",
        "psychological_care",
        "legal_aid",
        "special_file",
        "schooling",
    ]
    adult = child.model_copy(
        update={"age_years": 30, "guardians_known": True, "disabilities": ["visual"]}
    )
    adult = RescuedPerson.model_validate(adult.model_dump() | {"has_means": False})
    assert {r.id for r in rules.matching(adult)} == EVERY_VICTIM | {
        "rehabilitation",
        "disability_assessment",
        "vocational_training",
        "temporary_relief",
    }
