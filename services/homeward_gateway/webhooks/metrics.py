"""The webhook dispatcher's metrics, declared with every other in homeward.metrics
(so the dashboards' test sees the whole catalogue); short names here."""

from __future__ import annotations

from homeward.metrics import (
    WEBHOOK_ATTEMPT_SECONDS as ATTEMPT_SECONDS,
)
from homeward.metrics import (
    WEBHOOK_ATTEMPTS as ATTEMPTS,
)
from homeward.metrics import (
    WEBHOOK_DEAD_LETTERS as DEAD_LETTERS,
)
from homeward.metrics import (
    WEBHOOK_DELIVERY_SECONDS as DELIVERY_SECONDS,
)
from homeward.metrics import (
    WEBHOOK_IN_FLIGHT as IN_FLIGHT,
)
from homeward.metrics import (
    WEBHOOK_SKIPPED as SKIPPED,
)

__all__ = [
    "ATTEMPTS",
    "ATTEMPT_SECONDS",
    "DEAD_LETTERS",
    "DELIVERY_SECONDS",
    "IN_FLIGHT",
    "SKIPPED",
]
