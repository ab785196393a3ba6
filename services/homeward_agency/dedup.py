"""De-duplication of deliveries on delivery_id: a bounded LRU of the ids seen.

The fan-out resends a delivery, with the same delivery_id, while it is not
acknowledged, and may redeliver after a restart. A subscriber shows each id
once and acknowledges every copy (the first acknowledgement may have been
lost), so the set remembers, per id, whether it has been acknowledged yet.

Why a bounded set suffices: offsets are committed only after a delivery is
handled and acknowledged, so a restarted subscriber does not re-read what it
already handled; duplicates it can still meet are the fan-out's resends of
recent, unacknowledged deliveries, which arrive within the fan-out's resend
window (minutes). An agency receives far fewer than 100,000 deliveries in such
a window, so evicting the least recently seen id beyond that loses nothing
that can still come back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from enum import Enum

DEFAULT_CAPACITY = 100_000


class Seen(Enum):
    """What the set knows about an id: never seen, handed out, or acknowledged."""

    NEW = "new"
    PENDING = "pending"
    ACKED = "acked"


class SeenSet:
    """An LRU of ids with their state; at most `capacity` ids are kept."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[Hashable, Seen] = OrderedDict()

    def check(self, key: Hashable) -> Seen:
        """The state of `key`, recording it as PENDING if it is new.

        Either way the id becomes the most recently seen, so an id that keeps
        being resent is the last to be evicted."""
        state = self._ids.get(key)
        if state is None:
            self._ids[key] = Seen.PENDING
            if len(self._ids) > self.capacity:
                self._ids.popitem(last=False)
            return Seen.NEW
        self._ids.move_to_end(key)
        return state

    def mark_acked(self, key: Hashable) -> None:
        if key in self._ids:
            self._ids[key] = Seen.ACKED
            self._ids.move_to_end(key)

    def forget(self, key: Hashable) -> None:
        """Drop `key`, so its next copy is shown again (its handling failed)."""
        self._ids.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._ids

    def __len__(self) -> int:
        return len(self._ids)
