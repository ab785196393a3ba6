"""What text from outside may hold, and how text is made safe to show.

People write into other people's screens (the public into police's tip desk,
one agency into another's console, police into the public CAP feed):
no control characters (they corrupt logs and terminals), no bidirectional
overrides or isolates (they make a tip read differently from what it says,
CVE-2021-42574 "Trojan Source"), no lone surrogates (not encodable as UTF-8,
so not on the wire). Text is NFC-normalised so the same words compare equal.

`check_text` refuses such text where it comes in (intake's and the gateway's
request bodies, the tip line); `neutralise` makes what is already on the bus
(a record some other system wrote) harmless where it is shown (the console,
the CAP feed)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

# Embeddings, overrides, isolates and the marks: every bidi control of UAX #9.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
MULTILINE_ALLOWED = frozenset("\n\t")


class UnsafeText(ValueError):
    """The reason names the character by code point, never echoes the text."""


def check_text(value: str, *, multiline: bool = False) -> str:
    """`value` NFC-normalised with line ends unified, or UnsafeText naming the
    first character that may not appear."""
    value = value.replace("\r\n", "\n")
    for ch in value:
        if ch in BIDI_CONTROLS:
            raise UnsafeText(f"contains a bidirectional control character (U+{ord(ch):04X})")
        category = unicodedata.category(ch)
        if category == "Cs":
            raise UnsafeText(f"contains a lone surrogate (U+{ord(ch):04X})")
        if category == "Cc" and not (multiline and ch in MULTILINE_ALLOWED):
            raise UnsafeText(f"contains a control character (U+{ord(ch):04X})")
    return unicodedata.normalize("NFC", value)


# Every character check_text refuses, for neutralise: C0 and C1 controls, the
# bidi controls, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + "".join(sorted(BIDI_CONTROLS)) + "\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def neutralise(value: str, *, multiline: bool = True) -> str:
    """`value` with each character check_text would refuse replaced by U+FFFD,
    which shows that something was there without doing what it would do."""

    def swap(m: re.Match[str]) -> str:
        return m.group() if multiline and m.group() in MULTILINE_ALLOWED else REPLACEMENT

    return _UNSAFE.sub(swap, value)


def _line(value: str) -> str:
    return check_text(value)


def _lines(value: str) -> str:
    return check_text(value, multiline=True)


# Request fields: a one-line text, and a text that may hold line ends and tabs.
SafeLine = Annotated[str, AfterValidator(_line)]
SafeLines = Annotated[str, AfterValidator(_lines)]


def check_tree(value: Any, path: str = "") -> Any:
    """check_text (multi-line) over every string in `value`: a string, a list,
    a dict's values or a model's fields, nested. A string comes back
    normalised; in a model (frozen) it is only checked. The reason starts
    with the path below `value` where the character is (`child.clothing: `)."""
    if isinstance(value, str):
        try:
            return check_text(value, multiline=True)
        except UnsafeText as exc:
            raise UnsafeText(f"{path}: {exc}" if path else str(exc)) from None
    if isinstance(value, list | tuple):
        return type(value)(check_tree(v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: check_tree(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_tree(getattr(value, name), f"{path}.{name}" if path else name)
    return value
