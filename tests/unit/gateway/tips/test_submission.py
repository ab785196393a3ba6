"""What the public may send: the submission model and its text checks, with
hypothesis over text inputs (control characters, bidi overrides, surrogates)."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward.errors import ValidationError
from homeward.text import BIDI_CONTROLS, UnsafeText, check_text
from homeward_gateway.tips.models import TipSubmission, check_seen_at
from tests.unit.gateway.tips.world import NOW, T0, tip_body

SKEW = timedelta(minutes=5)


def errors_of(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(pydantic.ValidationError) as caught:
        TipSubmission.model_validate(body)
    return {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in caught.value.errors()}


def forbidden(ch: str, *, multiline: bool) -> bool:
    cat = unicodedata.category(ch)
    if ch in BIDI_CONTROLS or cat == "Cs":
        return True
    return cat == "Cc" and not (multiline and ch in "\n\t")


@given(st.text(max_size=60))
def test_text_is_refused_exactly_when_it_holds_a_forbidden_character(value: str) -> None:
    for multiline in (False, True):
        bad = any(forbidden(ch, multiline=multiline) for ch in value.replace("\r\n", "\n"))
        try:
            out = check_text(value, multiline=multiline)
        except UnsafeText as exc:
            assert bad
            assert ("U+" in str(exc) and value not in str(exc)) or not value.strip()
        else:
            assert not bad
            assert out == unicodedata.normalize("NFC", value.replace("\r\n", "\n"))


@given(
    prefix=st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=20),
    bad=st.sampled_from([*sorted(BIDI_CONTROLS), "\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"]),
    field=st.sampled_from(["place", "description", "contact"]),
)
def test_every_text_field_refuses_controls_and_bidi_overrides(
    prefix: str, bad: str, field: str
) -> None:
    errors = errors_of(tip_body(**{field: f"seen {prefix}{bad} here"}))
    assert field in errors
    if bad != "\ud800":  # pydantic refuses a lone surrogate itself ("not a unicode string")
        assert f"U+{ord(bad):04X}" in errors[field]


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=200))
def test_ordinary_text_in_any_script_is_taken(text: str) -> None:
    if not text.strip():
        return
    sub = TipSubmission.model_validate(tip_body(description=text, place=text))
    assert sub.description == unicodedata.normalize("NFC", text.strip())


def test_a_description_may_have_lines_a_place_may_not() -> None:
    assert "\n" in TipSubmission.model_validate(tip_body(description="one\r\ntwo")).description
    assert "place" in errors_of(tip_body(place="one\ntwo"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"description": "x" * 1001}, "description"),
        ({"description": "   "}, "description"),
        ({"place": "p" * 201}, "place"),
        ({"contact": "c" * 201}, "contact"),
        ({"case_id": "../../etc"}, "case_id"),
        ({"case_id": None}, "case_id"),
        ({"seen_at": "2026-12-02T09:00:00"}, "seen_at"),  # no zone
        ({"latitude": 91, "longitude": 0}, "latitude"),
        ({"latitude": 30.0}, "longitude"),
        ({"ip": "10.0.0.1"}, "ip"),  # nothing else is taken
    ],
)
def test_each_bad_field_is_named(overrides: dict[str, Any], field: str) -> None:
    body = tip_body(**overrides)
    if overrides.get("case_id", "") is None:
        body.pop("case_id", None)
    assert field in errors_of(body)


def test_an_empty_contact_is_no_contact_and_coordinates_come_in_pairs() -> None:
    sub = TipSubmission.model_validate(tip_body(contact="  ", latitude=30.1, longitude=104.2))
    assert sub.contact is None and (sub.latitude, sub.longitude) == (30.1, 104.2)


def test_seen_at_is_after_the_last_sighting_and_not_in_the_future() -> None:
    check_seen_at(NOW + SKEW, now=NOW, skew=SKEW, last_seen_at=T0)  # a fast phone clock
    check_seen_at(T0, now=NOW, skew=SKEW, last_seen_at=T0)
    for when in (NOW + SKEW + timedelta(seconds=1), T0 - timedelta(seconds=1)):
        with pytest.raises(ValidationError) as caught:
            check_seen_at(when, now=NOW, skew=SKEW, last_seen_at=T0)
        assert caught.value.field == "seen_at"
