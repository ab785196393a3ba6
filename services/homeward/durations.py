"""ISO 8601 durations, as the settings and rule tables of Homeward's services
write their windows and deadlines (PT2H, P3D, P1DT12H)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

# Years and months have no fixed length, so a deadline counts weeks at most.
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: Any) -> timedelta:
    """An ISO 8601 duration of weeks, days, hours, minutes and seconds ('P1DT2H')."""
    value = text.strip().upper() if isinstance(text, str) else text
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or value in ("P", "PT") or value.endswith("T"):
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration of weeks, days, hours, minutes or "
            "seconds (e.g. PT2H, P3D, P1DT12H)"
        )
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )
