"""Jinja2 with gettext (its i18n extension) over the console's catalogues, one language per
request (a context variable, so concurrent requests in two languages do not mix)."""

from __future__ import annotations

import contextvars
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from homeward.text import neutralise
from homeward_gateway.console import i18n

TEMPLATES = Path(__file__).parent / "templates"
# The plans' agencies are in China: times read in China's zone, the zone named on the page.
ZONE = ZoneInfo("Asia/Shanghai")

_lang: contextvars.ContextVar[str] = contextvars.ContextVar("console_lang", default=i18n.DEFAULT)


def set_language(tag: str) -> None:
    _lang.set(tag)


def current_language() -> str:
    return _lang.get()


def _gettext(key: str, **params: Any) -> str:
    text = i18n.language(_lang.get()).gettext(key)
    return text % params if params else text


def _ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = i18n.language(_lang.get()).translations.ngettext(singular, plural, n)
    return text % {"num": n, **params}


def local_time(value: datetime | str | None) -> str:
    """A time in China's zone; an ISO 8601 text (from intake's JSON) is read first."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _shown(value: Any) -> Any:
    # Markup is the templates' own (already safe) HTML; only plain text is data.
    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralise(value)
    return value


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Text on the bus was written by other systems: a control or bidi
        # character in it is shown as U+FFFD, not obeyed (homeward.text).
        finalize=_shown,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["local_time"] = local_time
    env.filters["seconds"] = seconds
    env.globals["current_language"] = current_language
    env.globals["languages"] = list(i18n.LANGUAGES)
    return env
