"""The commit rule: an offset is committed only when every delivery before it
is settled (delivered, dead-lettered, or not for any webhook).

Deliveries of one partition are settled out of order (each agency's endpoint
has its own queue), so the committable offset of a partition is the lowest
offset still in flight, or one past the highest seen when none is. A gateway
killed at any moment therefore re-reads, at worst, deliveries that were
already POSTed (the receiver drops them by `webhook-id`), never skips one.
Pure and single-threaded: the dispatcher guards it with its lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Partition:
    pending: set[int] = field(default_factory=set)
    next_offset: int | None = None  # one past the highest offset seen
    committed: int | None = None


class OffsetTracker:
    """Per (topic, partition): what is in flight and what may be committed."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], _Partition] = {}

    def add(self, tp: tuple[str, int], offset: int) -> None:
        """A record was read; it is in flight until settle()d."""
        part = self._parts.setdefault(tp, _Partition())
        part.pending.add(offset)
        if part.next_offset is None or offset + 1 > part.next_offset:
            part.next_offset = offset + 1

    def settle(self, tp: tuple[str, int], offset: int) -> None:
        """The record at `offset` is delivered, dead-lettered or skipped."""
        part = self._parts.get(tp)
        if part is not None:
            part.pending.discard(offset)

    def in_flight(self) -> int:
        return sum(len(p.pending) for p in self._parts.values())

    def committable(self) -> dict[tuple[str, int], int]:
        """Offsets to commit now: for each partition whose committable offset
        moved since the last mark_committed()."""
        out: dict[tuple[str, int], int] = {}
        for tp, part in self._parts.items():
            if part.next_offset is None:
                continue
            offset = min(part.pending) if part.pending else part.next_offset
            if part.committed is None or offset > part.committed:
                out[tp] = offset
        return out

    def mark_committed(self, offsets: dict[tuple[str, int], int]) -> None:
        for tp, offset in offsets.items():
            part = self._parts.get(tp)
            if part is not None:
                part.committed = offset
