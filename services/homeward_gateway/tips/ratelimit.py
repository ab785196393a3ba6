"""Flood control for the public tip line, with `limits` (PyPI; the library
behind Flask-Limiter and SlowAPI): a moving window per client and one for the
whole line, both in memory.

The client is its network address, HMAC-hashed with a key drawn at start and
never written anywhere: the window holds a hash that no one can turn back
into an address, and it is gone when the process stops. No address is stored
with a tip or in the audit record. Each gateway instance limits on its own;
the global limit is per instance (say so when sizing it)."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

GLOBAL = "all"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds, for the Retry-After header
    scope: str = ""  # "client" or "global" when refused


class TipRateLimiter:
    def __init__(
        self,
        per_client: str,
        global_limit: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_client: RateLimitItem = parse(per_client)
        self.global_limit: RateLimitItem = parse(global_limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._key = secrets.token_bytes(32)
        self._clock = clock

    def client_key(self, address: str) -> str:
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()

    def hit(self, address: str) -> Decision:
        """Count one request from `address`; refused ones count against the
        client (a flood keeps itself out) but not against everyone else."""
        client = self.client_key(address)
        if not self._limiter.hit(self.per_client, "tips", client):
            return Decision(False, self._retry_after(self.per_client, client), "client")
        if not self._limiter.hit(self.global_limit, "tips", GLOBAL):
            return Decision(False, self._retry_after(self.global_limit, GLOBAL), "global")
        return Decision(True)

    def _retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = self._limiter.get_window_stats(item, "tips", key)
        return max(1, math.ceil(stats.reset_time - self._clock()))
