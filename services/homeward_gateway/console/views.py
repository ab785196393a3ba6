"""What each page shows, built from the gateway's inbox entries (no HTTP, no templates).

An alert is one card per case: every delivery about the case (the issue, updates,
sightings, the cancellation) is an item of that card, so an update or a sighting shows in
place and a cancellation closes the card at once. A referral is one card per referral, with
the router's refusals about it. The coordination office's notices (escalations, overdue
referrals and reports) are a list of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from homeward import lifecycle
from homeward.events import (
    AlertDelivery,
    ReferralAnswerRefused,
    ReferralOverdue,
    ReferralRequested,
    TaskStatus,
)
from homeward_gateway.console.figures import AlertSeen, OfferSeen
from homeward_gateway.console.rendering import local_time
from homeward_gateway.store import AlertState, InboxEntry, InboxStore

ALERT_KINDS = frozenset({"alert", "update", "sighting", "cancellation", "public_notice"})
NOTICE_KINDS = frozenset({"escalation", "referral_overdue", "referral_escalated", "report_overdue"})
# The answers an agency gives from the console, in the order its buttons show.
ANSWER_ORDER = ("received", "accepted", "in-progress", "on-hold", "completed", "rejected", "failed")
NEEDS_REASON = frozenset({"rejected", "failed"})
NEEDS_OUTCOME = frozenset({"completed"})


@dataclass
class AlertCard:
    case_id: str
    state: AlertState
    items: list[InboxEntry] = field(default_factory=list)
    """Newest first."""

    @property
    def newest(self) -> int:
        return self.items[0].seq if self.items else 0

    @property
    def dom_id(self) -> str:
        return f"case-{self.case_id}"

    @property
    def unacknowledged(self) -> list[InboxEntry]:
        return [e for e in self.items if e.delivery.needs_ack and e.acknowledged is None]

    @property
    def last_seen(self) -> tuple[str, Any] | None:
        """The latest place and time the child was seen: the newest sighting, else the
        alert's last-seen place."""
        state = self.state
        if state.sightings:
            newest = max(state.sightings, key=lambda s: s.seen_at)
            return newest.location.description, newest.seen_at
        if state.issued is not None:
            return state.issued.last_seen.description, state.issued.last_seen_at
        return None


@dataclass
class ReferralCard:
    referral_id: str
    offer: InboxEntry
    status: TaskStatus
    refusals: list[ReferralAnswerRefused] = field(default_factory=list)

    @property
    def event(self) -> ReferralRequested:
        assert isinstance(self.offer.delivery.event, ReferralRequested)
        return self.offer.delivery.event

    @property
    def dom_id(self) -> str:
        return f"referral-{self.referral_id}"

    @property
    def answers(self) -> list[str]:
        """The answers the lifecycle allows from here, in button order."""
        allowed = set(lifecycle.allowed(self.status)) & {s.value for s in lifecycle.AGENCY_ANSWERS}
        return [a for a in ANSWER_ORDER if a in allowed]

    @property
    def victim(self) -> list[tuple[str, Any]]:
        """The victim's fields this agency's role may see: the router's projection already
        left out the rest (None), so only what is there is shown."""
        shown = self.event.victim.model_dump(exclude_none=True)
        return [(k, _plain(v)) for k, v in shown.items() if v not in ([], "")]


def _plain(value: Any) -> Any:
    """A victim field as the page shows it: booleans stay (the template says yes/no),
    times in China's zone, a place or a contact as its readable parts, lists joined."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, dict):
        parts = [value.get(k) for k in ("description", "name", "unit", "phone")]
        return " · ".join(str(p) for p in parts if p) or ", ".join(f"{v}" for v in value.values())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def alert_cards(entries: Iterable[InboxEntry]) -> list[AlertCard]:
    """One card per case, the case with the newest delivery first."""
    cards: dict[str, AlertCard] = {}
    for entry in entries:
        if not isinstance(entry.delivery.event, AlertDelivery) or entry.alert is None:
            continue
        card = cards.setdefault(
            entry.delivery.case_id, AlertCard(entry.delivery.case_id, entry.alert)
        )
        card.items.append(entry)
    for card in cards.values():
        card.items.sort(key=lambda e: e.seq, reverse=True)
    return sorted(cards.values(), key=lambda c: c.newest, reverse=True)


def alert_card(entries: Iterable[InboxEntry], case_id: str) -> AlertCard | None:
    return next((c for c in alert_cards(entries) if c.case_id == case_id), None)


def referral_cards(entries: Sequence[InboxEntry], status_of: Any) -> list[ReferralCard]:
    """One card per referral offered to this agency, newest offer first; `status_of(entry)`
    is the status the gateway holds for it (None: requested)."""
    cards: dict[str, ReferralCard] = {}
    for entry in entries:
        event = entry.delivery.event
        if isinstance(event, ReferralRequested):
            held = cards.get(event.referral_id)
            if held is None or entry.seq > held.offer.seq:
                status = status_of(entry) or TaskStatus.REQUESTED
                refusals = held.refusals if held else []
                cards[event.referral_id] = ReferralCard(event.referral_id, entry, status, refusals)
    for entry in entries:
        event = entry.delivery.event
        if isinstance(event, ReferralAnswerRefused) and event.referral_id in cards:
            cards[event.referral_id].refusals.append(event)
    return sorted(cards.values(), key=lambda c: c.offer.seq, reverse=True)


def notices(entries: Iterable[InboxEntry]) -> list[InboxEntry]:
    """The coordination office's overdue and escalated items, newest first."""
    return sorted((e for e in entries if e.kind in NOTICE_KINDS), key=lambda e: e.seq, reverse=True)


def supervision_input(store: InboxStore) -> tuple[list[AlertSeen], list[OfferSeen]]:
    """Every agency's alerts and referral offers as the gateway holds them, for figures()."""
    everything = [e for agency in store.agencies() for e in store.entries(agency)]
    overdue: set[tuple[str, str, int, str]] = {
        (ev.referral_id, ev.agency_id, ev.offer, ev.phase)
        for ev in (e.delivery.event for e in everything)
        if isinstance(ev, ReferralOverdue)
    }
    alerts: list[AlertSeen] = []
    offers: list[OfferSeen] = []
    for entry in everything:
        event = entry.delivery.event
        if isinstance(event, AlertDelivery) and entry.kind == "alert":
            alerts.append(
                AlertSeen(
                    entry.delivery_id,
                    event.agency_type,
                    entry.received_at,
                    entry.acknowledged.at if entry.acknowledged else None,
                )
            )
        elif isinstance(event, ReferralRequested):
            status = store.referral_status(entry.agency_id, event.case_id, event.referral_id)
            key = (event.referral_id, event.agency_id, event.offer)
            offers.append(
                OfferSeen(
                    event.referral_id,
                    event.agency_id,
                    event.offer,
                    event.agency_type,
                    (status or TaskStatus.REQUESTED).value,
                    answer_overdue=(*key, "answer") in overdue,
                    completion_overdue=(*key, "completion") in overdue,
                )
            )
    return alerts, offers
