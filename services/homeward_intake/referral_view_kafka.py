"""The referral read model on Kafka: follows the router's log
(referrals.events.v1) into a ReferralTable, in the background, like the
idempotency store follows its topic (log_follower.py).

Records that cannot be decoded are skipped and counted, never fatal: the
router dead-letters its own input, and this view is a convenience, not the
authority. Logged with the field and reason only, never the content.
"""

from __future__ import annotations

import logging
from typing import Any

from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.settings import KafkaSettings
from homeward_intake.log_follower import LogFollower
from homeward_intake.referral_view import ReferralTable

log = logging.getLogger(__name__)


class KafkaReferralView:
    def __init__(
        self,
        settings: KafkaSettings,
        topic: str,
        *,
        codec: Codec | None = None,
        table: ReferralTable | None = None,
        startup_timeout_seconds: float = 30.0,
    ) -> None:
        self.topic = topic
        self.codec = codec or Codec()
        self.table = table or ReferralTable()
        self.skipped = 0
        self.follower = LogFollower(
            settings,
            topic,
            self._apply_record,
            name="referrals",
            startup_timeout_seconds=startup_timeout_seconds,
        )

    def start(self) -> None:
        if self.follower.running():
            return
        self.follower.start()
        log.info("referral log %s read: %d referrals known", self.topic, len(self.table))

    def ready(self) -> bool:
        return self.follower.ready()

    def sync(self, timeout: float) -> bool:
        return self.follower.sync(timeout)

    def close(self) -> None:
        self.follower.close()

    def _apply_record(self, rec: Any) -> None:
        try:
            decoded = self.codec.decode(rec.value, rec.headers)
        except Exception as exc:  # not ours to crash on; the router dead-letters its input
            self.skipped += 1
            field, reason = describe(exc)
            log.warning(
                "skipping %s[%d]@%d: field=%s reason=%s",
                rec.topic,
                rec.partition,
                rec.offset,
                field or "-",
                reason,
            )
            return
        self.table.apply(decoded.event, decoded.meta.id)
