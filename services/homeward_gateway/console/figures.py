"""The supervision figures the plans ask the coordination office for, per agency type:
alerts received, time to acknowledge (p50, p90), referrals answered and completed in time.

Pure: `Supervision` is fed what the gateway sees (deliveries and referral offers from the
inbox topics, acknowledgements and answers as they pass) and `figures(now)` reads it out.
Resends carry the same delivery id and only the first sending counts; a referral is one per
(referral, agency, offer), since a re-offer to the next agency is a new offer with its own
deadlines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

ANSWERED_STATUSES = frozenset(
    {"received", "accepted", "rejected", "in-progress", "on-hold", "completed", "failed"}
)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (the smallest value with at least p% of values at or
    below it); None for no values. p in (0, 100]."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is outside (0, 100]")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass
class _Delivery:
    agency_type: str
    sent_at: datetime
    acked_at: datetime | None = None


@dataclass
class _Offer:
    agency_type: str
    answer_due: datetime
    complete_due: datetime
    answered_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class TypeFigures:
    agency_type: str
    alerts_received: int
    alerts_acknowledged: int
    ack_p50_seconds: float | None
    ack_p90_seconds: float | None
    referrals_offered: int
    referrals_answered_in_time: int
    referrals_answered_late: int
    referrals_completed_in_time: int
    referrals_completed_late: int
    referrals_overdue_now: int
    """Offers past their answer deadline with no answer yet."""


@dataclass
class Supervision:
    _deliveries: dict[str, _Delivery] = field(default_factory=dict)
    _early_acks: dict[str, datetime] = field(default_factory=dict)
    _offers: dict[tuple[str, str, int], _Offer] = field(default_factory=dict)
    _early_answers: dict[tuple[str, str], list[tuple[str, datetime]]] = field(
        default_factory=dict
    )

    def alert_delivered(self, delivery_id: str, agency_type: str, at: datetime) -> None:
        """A new alert reached an agency (a resend of the same delivery id counts once)."""
        known = self._deliveries.get(delivery_id)
        if known is not None:
            known.sent_at = min(known.sent_at, at)
            return
        self._deliveries[delivery_id] = _Delivery(agency_type, at)
        # The acknowledgement may be read before the delivery (two topics, no order).
        if delivery_id in self._early_acks:
            self.acknowledged(delivery_id, self._early_acks.pop(delivery_id))

    def acknowledged(self, delivery_id: str, at: datetime) -> None:
        known = self._deliveries.get(delivery_id)
        if known is None:
            self._early_acks[delivery_id] = min(at, self._early_acks.get(delivery_id, at))
            return
        if known.acked_at is None or at < known.acked_at:
            known.acked_at = at

    def referral_offered(
        self,
        referral_id: str,
        agency_id: str,
        offer: int,
        agency_type: str,
        answer_due: datetime,
        complete_due: datetime,
    ) -> None:
        key = (referral_id, agency_id, offer)
        if key in self._offers:
            return
        self._offers[key] = _Offer(agency_type, answer_due, complete_due)
        for status, at in self._early_answers.pop((referral_id, agency_id), []):
            self.referral_answered(referral_id, agency_id, status, at)

    def referral_answered(self, referral_id: str, agency_id: str, status: str, at: datetime) -> None:
        """An agency's answer; it counts for that agency's latest offer of the referral."""
        offers = [k for k in self._offers if k[0] == referral_id and k[1] == agency_id]
        if not offers:
            self._early_answers.setdefault((referral_id, agency_id), []).append((status, at))
            return
        offer = self._offers[max(offers, key=lambda k: k[2])]
        if status in ANSWERED_STATUSES and (offer.answered_at is None or at < offer.answered_at):
            offer.answered_at = at
        if status == "completed" and (offer.completed_at is None or at < offer.completed_at):
            offer.completed_at = at

    def figures(self, now: datetime) -> list[TypeFigures]:
        """One row per agency type seen, in name order."""
        types = sorted(
            {d.agency_type for d in self._deliveries.values()}
            | {o.agency_type for o in self._offers.values()}
        )
        return [self._row(t, now) for t in types]

    def _row(self, agency_type: str, now: datetime) -> TypeFigures:
        deliveries = [d for d in self._deliveries.values() if d.agency_type == agency_type]
        waits = [
            (d.acked_at - d.sent_at).total_seconds() for d in deliveries if d.acked_at is not None
        ]
        # An acknowledgement stamped a little before the delivery (clock skew between hosts)
        # is a wait of zero, not a negative one.
        waits = [max(w, 0.0) for w in waits]
        offers = [o for o in self._offers.values() if o.agency_type == agency_type]
        return TypeFigures(
            agency_type=agency_type,
            alerts_received=len(deliveries),
            alerts_acknowledged=len(waits),
            ack_p50_seconds=percentile(waits, 50),
            ack_p90_seconds=percentile(waits, 90),
            referrals_offered=len(offers),
            referrals_answered_in_time=_count(
                o.answered_at is not None and o.answered_at <= o.answer_due for o in offers
            ),
            referrals_answered_late=_count(
                o.answered_at is not None and o.answered_at > o.answer_due for o in offers
            ),
            referrals_completed_in_time=_count(
                o.completed_at is not None and o.completed_at <= o.complete_due for o in offers
            ),
            referrals_completed_late=_count(
                o.completed_at is not None and o.completed_at > o.complete_due for o in offers
            ),
            referrals_overdue_now=_count(
                o.answered_at is None and now > o.answer_due for o in offers
            ),
        )


def _count(flags: Iterable[bool]) -> int:
    return sum(1 for f in flags if f)
