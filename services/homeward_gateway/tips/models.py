"""A tip as the public sends it (JSON or the form), validated with pydantic v2.

Only what a lead needs: which case, when and roughly where the child was seen,
what was seen, and, if the tipster wants to be called back, how. Nothing about
the sender is asked for or kept (no address, no device)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from homeward.errors import ValidationError
from homeward.events.alerts import Ident
from homeward.events.base import Instant
from homeward.events.tips import MAX_CONTACT, MAX_DESCRIPTION
from homeward.text import SafeLine as Line
from homeward.text import SafeLines as Lines

MAX_PLACE = 200


class TipSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    case_id: Ident
    seen_at: Instant = Field(description="When the child was seen (with a time zone)")
    place: Line = Field(
        min_length=1, max_length=MAX_PLACE, description="Where, roughly (a street, a station)"
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    # Validated even when absent, so a latitude without it is named here.
    longitude: float | None = Field(default=None, ge=-180, le=180, validate_default=True)
    description: Lines = Field(min_length=1, max_length=MAX_DESCRIPTION)
    contact: Line | None = Field(
        default=None,
        max_length=MAX_CONTACT,
        description="How police may reach you, if you wish (phone or e-mail)",
    )

    @field_validator("longitude")
    @classmethod
    def _both_coordinates(cls, value: float | None, info: ValidationInfo) -> float | None:
        if "latitude" in info.data and (value is None) != (info.data["latitude"] is None):
            raise ValueError("latitude and longitude go together: give both or neither")
        return value

    @model_validator(mode="before")
    @classmethod
    def _blank_contact(cls, data: Any) -> Any:
        # The form sends an empty field for "no contact".
        contact = data.get("contact") if isinstance(data, dict) else None
        if isinstance(contact, str) and not contact.strip():
            data = {**data, "contact": None}
        return data


def check_seen_at(
    seen_at: datetime, *, now: datetime, skew: timedelta, last_seen_at: datetime
) -> None:
    """A sighting happens after the child went missing and not in the future
    (beyond the clock skew a phone may have). Not before the alert was issued:
    a sighting between the last-seen time and the alert is the most valuable."""
    if seen_at > now + skew:
        raise ValidationError("is in the future", field="seen_at")
    if seen_at < last_seen_at:
        raise ValidationError(
            "is before the child was last seen (the alert's last-seen time)", field="seen_at"
        )
