"""The form's words, from the message catalogues beside this module (zh-CN by
default, en), so no label lives in code. Self-contained: the logged-in console
has its own catalogue."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
_DIR = Path(__file__).parent / "messages"


@cache
def catalogue(language: str) -> dict[str, str]:
    lang = language if language in LANGUAGES else DEFAULT
    messages: dict[str, str] = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return messages


def pick(requested: str | None, default: str = DEFAULT) -> str:
    """`?lang=` if it is one we have, else the default."""
    return requested if requested in LANGUAGES else (default if default in LANGUAGES else DEFAULT)


def other(language: str) -> str:
    return "en" if language == "zh-CN" else "zh-CN"
