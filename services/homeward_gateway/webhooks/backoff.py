"""When to try a webhook again: exponential backoff with full jitter, capped.

"Full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): the
wait before try n+1 is uniform in [0, min(cap, base * 2**(n-1))], so endpoints
that failed together (a site's network outage) are not hit again in step. An
endpoint's `Retry-After` is honoured up to the cap: it knows its own load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    base: float = 1.0
    """Ceiling of the first wait, in seconds."""
    cap: float = 60.0
    """No wait is longer, whatever the attempt or Retry-After says."""

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed try `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        # min() before the power would overflow: 2**1100 is not a float.
        exponent = min(attempt - 1, 1023)
        return min(self.cap, self.base * 2.0**exponent)

    def delay(
        self, attempt: int, rng: random.Random | None = None, retry_after: float | None = None
    ) -> float:
        """The wait after failed try `attempt`: full jitter under the ceiling,
        or the endpoint's Retry-After when it asks for longer (never past the cap)."""
        jittered = (rng or random).uniform(0.0, self.ceiling(attempt))
        if retry_after is not None and retry_after > jittered:
            return min(self.cap, retry_after)
        return jittered


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
