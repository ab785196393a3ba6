"""The supervision figures the plans ask the coordination office for, per agency type:
alerts received, time to acknowledge (p50, p90), referrals answered and completed in time.

Pure: `figures()` takes what the gateway sees (every agency's alert deliveries with their
acknowledgements, every referral offer with its status) and counts. Whether an answer was in
time is the referral router's judgement, not a second clock here: the router sends the
coordination office a ReferralOverdue (phase answer or completion) for an offer past its
deadline, so an offer answered (or completed) with no such notice was in time, and one with a
notice was late. Resends carry the same delivery id and count once; a referral counts once
per (referral, agency, offer), since a re-offer to the next agency has its own deadlines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class AlertSeen:
    """One alert delivery (the first issue of an alert, not its updates) to one agency."""

    delivery_id: str
    agency_type: str
    received_at: datetime
    acknowledged_at: datetime | None = None


@dataclass(frozen=True)
class OfferSeen:
    """One referral offer to one agency and what became of it."""

    referral_id: str
    agency_id: str
    offer: int
    agency_type: str
    status: str
    """The status the gateway holds (requested until the agency answers)."""
    answer_overdue: bool = False
    completion_overdue: bool = False


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
    referrals_unanswered: int
    referrals_completed_in_time: int
    referrals_completed_late: int


def figures(alerts: Iterable[AlertSeen], offers: Iterable[OfferSeen]) -> list[TypeFigures]:
    """One row per agency type seen, in name order."""
    by_delivery: dict[str, AlertSeen] = {}
    for a in alerts:
        held = by_delivery.get(a.delivery_id)
        by_delivery[a.delivery_id] = a if held is None else _earliest(held, a)
    by_offer: dict[tuple[str, str, int], OfferSeen] = {}
    for o in offers:
        by_offer[(o.referral_id, o.agency_id, o.offer)] = o
    types = sorted(
        {a.agency_type for a in by_delivery.values()} | {o.agency_type for o in by_offer.values()}
    )
    return [
        _row(
            t,
            [a for a in by_delivery.values() if a.agency_type == t],
            [o for o in by_offer.values() if o.agency_type == t],
        )
        for t in types
    ]


def _earliest(a: AlertSeen, b: AlertSeen) -> AlertSeen:
    acks = [x for x in (a.acknowledged_at, b.acknowledged_at) if x is not None]
    return AlertSeen(
        a.delivery_id, a.agency_type, min(a.received_at, b.received_at), min(acks, default=None)
    )


def _row(agency_type: str, alerts: list[AlertSeen], offers: list[OfferSeen]) -> TypeFigures:
    # An acknowledgement stamped a little before the delivery (clock skew between hosts)
    # is a wait of zero, not a negative one.
    waits = [
        max((a.acknowledged_at - a.received_at).total_seconds(), 0.0)
        for a in alerts
        if a.acknowledged_at is not None
    ]
    answered = [o for o in offers if o.status in ANSWERED_STATUSES]
    completed = [o for o in offers if o.status == "completed"]
    return TypeFigures(
        agency_type=agency_type,
        alerts_received=len(alerts),
        alerts_acknowledged=len(waits),
        ack_p50_seconds=percentile(waits, 50),
        ack_p90_seconds=percentile(waits, 90),
        referrals_offered=len(offers),
        referrals_answered_in_time=sum(1 for o in answered if not o.answer_overdue),
        referrals_answered_late=sum(1 for o in answered if o.answer_overdue),
        referrals_unanswered=len(offers) - len(answered),
        referrals_completed_in_time=sum(1 for o in completed if not o.completion_overdue),
        referrals_completed_late=sum(1 for o in completed if o.completion_overdue),
    )
