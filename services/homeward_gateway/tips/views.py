"""The tip line's two readers, each following one topic with the shared
log follower (no consumer group: every gateway instance reads everything and
rebuilds the same view): alerts.events.v1 for which cases take tips, and
police.tips.v1 for each unit's tips."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from homeward.events import Event
from homeward.log_follower import FollowedView
from homeward.probes import print_line
from homeward.settings import KafkaSettings
from homeward_gateway.tips.book import TipBook
from homeward_gateway.tips.cases import PublicCases

READY_LINE = "TIPS_READY"


class PublicCasesView(FollowedView):
    def __init__(self, settings: KafkaSettings, topic: str, cases: PublicCases, **kw: Any) -> None:
        super().__init__(settings, topic, name="tip-alerts", **kw)
        self.cases = cases

    def apply_event(self, event: Event, event_id: str) -> None:
        self.cases.apply(event)

    def known(self) -> int:
        return len(self.cases)


class TipBookView(FollowedView):
    def __init__(self, settings: KafkaSettings, topic: str, book: TipBook, **kw: Any) -> None:
        super().__init__(settings, topic, name="tips", **kw)
        self.book = book
        self._at = datetime.now(UTC)

    def _apply_record(self, rec: Any) -> None:
        # The broker's time of the record is when police acknowledged (one thread).
        self._at = datetime.fromtimestamp(rec.timestamp / 1000, UTC)
        super()._apply_record(rec)

    def apply_event(self, event: Event, event_id: str) -> None:
        self.book.apply(event, event_id, self._at)

    def known(self) -> int:
        return len(self.book)


class Views:
    """Both readers as one runner for the gateway's lifespan (started in the
    background and retried until Kafka is there)."""

    def __init__(self, cases: PublicCasesView, tips: TipBookView) -> None:
        self.cases = cases
        self.tips = tips

    def start(self) -> None:
        self.cases.start()
        self.tips.start()
        # For whoever starts the gateway and waits for the tip line (tests, the demo).
        print_line(READY_LINE)

    def ready(self) -> bool:
        return self.cases.ready() and self.tips.ready()

    def close(self) -> None:
        self.tips.close()
        self.cases.close()


__all__ = ["PublicCasesView", "TipBookView", "Views"]
