"""Reading the bus into the store: every inbox topic from the start, plus what
the entries' state needs, under the gateway's own Kafka principal.

One homeward.log_follower.LogFollower (one thread, assign + seek, no consumer
group) reads all of them, so every gateway instance holds every inbox and a
restarted one rebuilds them from the log:

- `inbox.{agency_type}.v1` and police.inbox.v1: the deliveries, decoded with
  the SDK's decode_delivery (a record keyed to one agency but addressed to
  another is refused, as the SDK refuses it);
- alerts.acks.v1: who acknowledged which delivery, whichever way it was
  acknowledged (gateway, SDK, another gateway instance);
- referrals.events.v1: the router's status changes, the authority on a
  referral's status, so an answer is checked against what the router holds;
- police.reports.v1: the mandatory reports and their acknowledgements (the
  report desk);
- police.anomalies.v1: the detector's health-record anomalies (police only).

A record that cannot be decoded is counted (homeward_gateway_records_skipped_total)
and logged with its field and reason, never its content, and skipped; it never
stops the follower. It is not dead-lettered here: every gateway instance reads
every record at every start, so each would copy it again; the inbox's own
consumers (the SDK's subscribers) dead-letter it, as FollowedView's rule is.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from homeward.agency_types import AgencyType
from homeward.codec import Codec
from homeward.deadletter import describe
from homeward.events import (
    AgencyAcknowledgement,
    AlertDelivery,
    HealthAnomalyDetected,
    MandatoryReportFiled,
    ReferralStatusChanged,
    ReportAcknowledged,
)
from homeward.log_follower import LogFollower
from homeward.metrics import GATEWAY_DELIVERIES, GATEWAY_DELIVERY_SECONDS, GATEWAY_RECORDS_SKIPPED
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward_agency.delivery import decode_delivery, record_key
from homeward_gateway.store import Acknowledgement, InboxStore

log = logging.getLogger(__name__)


class InboxFollower:
    def __init__(
        self,
        settings: KafkaSettings,
        topology: Topology,
        store: InboxStore,
        *,
        codec: Codec | None = None,
        startup_timeout_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.codec = codec or Codec()
        self.inboxes = {topology.inbox(t).name: t for t in AgencyType}
        self.acks_topic = topology.get("alert_acks").name
        self.referral_events_topic = topology.get("referral_events").name
        self.reports_topic = topology.get("reports").name
        self.anomalies_topic = topology.get("anomalies").name
        self.skipped = 0
        self._live = False
        self.follower = LogFollower(
            settings,
            [
                *self.inboxes,
                self.acks_topic,
                self.referral_events_topic,
                self.reports_topic,
                self.anomalies_topic,
            ],
            self.apply,
            name="gateway-inboxes",
            startup_timeout_seconds=startup_timeout_seconds,
        )

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        if self.follower.running():
            return
        self.follower.start()
        self._live = True
        log.info("inboxes read: %d entries, %d skipped", len(self.store), self.skipped)

    def ready(self) -> bool:
        return self.follower.ready()

    def sync(self, timeout: float) -> bool:
        return self.follower.sync(timeout)

    def close(self) -> None:
        self.follower.close()

    # -- applying one record ------------------------------------------------------------
    def apply(self, rec: Any) -> None:
        try:
            if rec.topic in self.inboxes:
                self._delivery(rec)
            else:
                self._state(rec)
        except Exception as exc:  # not ours to crash on: count, log, go on
            self.skipped += 1
            GATEWAY_RECORDS_SKIPPED.labels(rec.topic).inc()
            field, reason = describe(exc)
            log.warning(
                "skipping %s[%d]@%d: field=%s reason=%s",
                rec.topic,
                rec.partition,
                rec.offset,
                field or "-",
                reason,
            )

    def _delivery(self, rec: Any) -> None:
        delivery = decode_delivery(self.codec, rec, recipient=record_key(rec))
        entry = self.store.add(delivery)
        if entry is None:
            return
        GATEWAY_DELIVERIES.labels(self.inboxes[rec.topic].value, entry.kind).inc()
        if self._live and isinstance(delivery.event, AlertDelivery):
            held = datetime.now(UTC) - delivery.event.accepted_at
            GATEWAY_DELIVERY_SECONDS.observe(max(held.total_seconds(), 0.0))

    def _state(self, rec: Any) -> None:
        decoded = self.codec.decode(rec.value, rec.headers)
        event, meta = decoded.event, decoded.meta
        if isinstance(event, AgencyAcknowledgement):
            # The fan-out's rule: an ack whose actor is not of the acknowledging
            # agency stops nothing, so it does not count as acknowledged here either.
            if event.actor is None or event.actor.agency_id != event.agency_id:
                return
            self.store.acknowledge(
                event.agency_id,
                event.delivery_id,
                Acknowledgement(
                    by=event.actor.principal,
                    at=meta.time,
                    agency_id=event.agency_id,
                    event_id=meta.id,
                ),
            )
        elif isinstance(event, ReferralStatusChanged):
            self.store.referrals.confirm(
                event.agency_id,
                event.case_id,
                event.referral_id,
                event.status,
                event.offer,
                event.answer_event_id,
            )
        elif isinstance(event, MandatoryReportFiled):
            self.store.add_report(event, meta.id, meta.time)
        elif isinstance(event, ReportAcknowledged):
            by = event.actor.principal if event.actor else event.agency_id
            self.store.acknowledge_report(event, by, meta.time)
        elif isinstance(event, HealthAnomalyDetected):
            self.store.add_anomaly(event, meta.id, meta.time)
        else:
            self.store.observe_referral(getattr(event, "agency_id", ""), event)
