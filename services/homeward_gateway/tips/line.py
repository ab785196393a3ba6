"""The tip line as the routes use it: the desk, the flood control, the form
tokens, the readers and the form's templates, built once per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from homeward_gateway.tips.csrf import FormTokens
from homeward_gateway.tips.desk import TipDesk
from homeward_gateway.tips.ratelimit import TipRateLimiter
from homeward_gateway.tips.settings import TipSettings

TEMPLATES = Path(__file__).parent / "templates"


def templates() -> Environment:
    # Autoescape everything: every value on the page may come from the public.
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


@dataclass
class TipLine:
    desk: TipDesk
    settings: TipSettings
    limiter: TipRateLimiter
    tokens: FormTokens
    ready: Callable[[], bool]
    pages: Environment = field(default_factory=templates)

    @property
    def form_zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.form_timezone)
