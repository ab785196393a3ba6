"""What a public text field may hold. The public writes into police's screens:
no control characters (they corrupt logs and terminals), no bidirectional
overrides or isolates (they make a tip read differently from what it says,
CVE-2021-42574 "Trojan Source"), no lone surrogates (not encodable as UTF-8,
so not on the wire). Text is NFC-normalised so the same words compare equal."""

from __future__ import annotations

import unicodedata

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
