"""homeward.text: what check_text refuses at the edges, neutralise makes
harmless where the bus's text is shown (the console, the CAP feed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeward.text import REPLACEMENT, UnsafeText, check_text, check_tree, neutralise
from homeward_gateway.console.rendering import environment
from homeward_gateway.public.cap import clean


@given(st.text())
def test_neutralised_text_is_text_check_text_accepts(value: str) -> None:
    out = neutralise(value)
    assert len(out) == len(value)
    check_text(out, multiline=True)  # raises if anything unsafe is left
    for before, after in zip(value, out, strict=True):
        assert after in (before, REPLACEMENT)


def test_check_tree_names_the_path_of_the_character() -> None:
    with pytest.raises(
        UnsafeText, match=r"^items\[1\]\.note: contains a control character \(U\+0007\)"
    ):
        check_tree({"items": ["fine", {"note": "bell\x07"}]})
    assert check_tree({"a": ["line one\nline two\ttab"]}) == {"a": ["line one\nline two\ttab"]}


def test_the_console_shows_bus_text_neutralised_and_keeps_its_own_markup() -> None:
    page = (
        environment()
        .from_string("<p>{{ note }}</p>{{ safe }}")
        .render(note="a\u202eb<i>", safe=__import__("markupsafe").Markup("<b>ok</b>"))
    )
    assert page == "<p>a\ufffdb&lt;i&gt;</p><b>ok</b>"


def test_cap_text_loses_xml_forbidden_and_bidi_characters() -> None:
    assert clean("x\x00y\u2066z\u0085") == "x y\ufffdz\ufffd"
