"""The referral read model on Kafka: follows the router's log
(referrals.events.v1) into a ReferralTable, in the background, like the
idempotency store follows its topic (homeward.log_follower)."""

from __future__ import annotations

from typing import Any

from homeward.codec import Codec
from homeward.log_follower import FollowedView
from homeward.settings import KafkaSettings
from homeward_intake.referral_view import ReferralTable


class KafkaReferralView(FollowedView):
    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        *,
        codec: Codec | None = None,
        table: ReferralTable | None = None,
        startup_timeout_seconds: float = 30.0,
    ) -> None:
        super().__init__(
            settings,
            topic,
            name="referrals",
            codec=codec,
            startup_timeout_seconds=startup_timeout_seconds,
        )
        self.table = table or ReferralTable()

    def apply_event(self, event: Any, event_id: str) -> None:
        self.table.apply(event, event_id)

    def known(self) -> int:
        return len(self.table)
