"""How a delivery is shown: one readable line for a terminal, or a JSON
object (for --json lines and for forwarding to an agency's endpoint).

Texts come from other agencies' systems, so the line form strips control
characters: a name cannot break the one-line layout or steer the terminal.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from homeward.events import (
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    DeliveryEscalated,
    PublicNotice,
    ReferralAnswerRefused,
    ReferralEscalated,
    ReferralOverdue,
    ReferralRequested,
    ReportOverdue,
    SightingReported,
    TipOverdue,
    VictimProfile,
)
from homeward_agency.delivery import Delivery

SUMMARY_CHARS = 160
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean(text: str, limit: int = SUMMARY_CHARS) -> str:
    """One line of at most `limit` characters, control characters as spaces."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _km(value: float) -> str:
    return f"{value:.1f}km"


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%MZ}"


def _victim(victim: VictimProfile) -> str:
    """What this agency's projection of the person holds, shortly (None fields are
    simply not there for this role)."""
    parts: list[str] = []
    if victim.name:
        parts.append(f'"{clean(victim.name, 60)}"')
    if victim.age_years is not None:
        parts.append(f"{victim.age_years}y")
    elif victim.is_child is not None:
        parts.append("child" if victim.is_child else "adult")
    if victim.sex:
        parts.append(victim.sex)
    if victim.guardians_known is False:
        parts.append("guardians not found")
    if victim.disabilities:
        parts.append("disability: " + ", ".join(victim.disabilities))
    return " ".join(parts) or "person details withheld for this agency"


def _notice(event: Any) -> str:
    """The line of a referral, a notice about one, or a report's overdue notice."""
    if isinstance(event, ReferralRequested):
        return (
            f"referral {event.referral_id}: {clean(event.service, 80)} ({event.rule_id}); "
            f"{_victim(event.victim)}; answer by {_when(event.answer_due)}, "
            f"complete by {_when(event.complete_due)}"
        )
    if isinstance(event, ReferralAnswerRefused):
        current = f", status stays {event.current_status.value}" if event.current_status else ""
        return (
            f"answer {clean(event.status, 40)} to referral {event.referral_id} refused: "
            f"{clean(event.reason)}{current}"
        )
    if isinstance(event, ReferralOverdue):
        return (
            f"referral {event.referral_id} ({clean(event.service, 80)}) at {event.agency_id} "
            f"({event.agency_type}) overdue for {event.phase} since {_when(event.due_at)}, "
            f"status {event.status.value}"
        )
    if isinstance(event, ReferralEscalated):
        last = f", last reason {event.last_reason.value}" if event.last_reason else ""
        return (
            f"referral {event.referral_id} ({clean(event.service, 80)}) escalated: no "
            f"{event.agency_type} agency left after {event.offers} offer(s){last}"
        )
    if isinstance(event, ReportOverdue):
        return (
            f"mandatory report {event.case_id} ({event.sector.value}, {clean(event.area, 60)}) "
            f"not acknowledged by police; due {_when(event.due_at)}"
        )
    if isinstance(event, TipOverdue):
        return (
            f"public tip {event.tip_id} on case {event.case_id} not acknowledged by "
            f"{event.agency_id} (officer {event.officer_id}); due {_when(event.due_at)}"
        )
    return ""  # pragma: no cover - the inbox types are exhaustive


def describe(delivery: Delivery) -> str:
    """The kind-specific part of the line."""
    event = delivery.event
    if isinstance(event, DeliveryEscalated):
        return (
            f"agency {event.agency_id} ({event.agency_type}) has not acknowledged "
            f"{event.delivery_id} after {event.attempts} attempt(s) since "
            f"{event.first_sent_at:%Y-%m-%d %H:%M:%SZ}"
        )
    if not isinstance(event, AlertDelivery):
        return _notice(event)
    inner = event.event
    if isinstance(inner, AlertIssued):
        child = inner.child
        return f'"{clean(child.name, 60)}", {child.age_years}y {child.sex}: ' + clean(
            inner.public_summary
        )
    if isinstance(inner, AlertUpdated):
        return clean(inner.new_information)
    if isinstance(inner, SightingReported):
        return (
            f"seen {inner.seen_at:%H:%M:%SZ} at {clean(inner.location.description, 60)} "
            f"({inner.reporter_kind}): {clean(inner.description)}"
        )
    if isinstance(inner, AlertCancelled):
        note = f": {clean(inner.note)}" if inner.note else ""
        return f"{inner.reason.value.lower().replace('_', ' ')}{note}"
    if isinstance(inner, PublicNotice):
        return f"{inner.status}: {clean(inner.summary)}"
    return ""  # pragma: no cover - the union above is exhaustive


def format_line(delivery: Delivery) -> str:
    """time  kind  case  ring  distance  attempt  description."""
    when = f"{delivery.received_at:%Y-%m-%d %H:%M:%S}Z"
    event = delivery.event
    where = "-"
    attempt = ""
    drill = ""
    if isinstance(event, AlertDelivery):
        where = f"ring {event.ring_km}km dist {_km(event.distance_km)}"
        attempt = f" attempt {event.attempt}" if event.attempt > 1 else ""
        # A drill must never be taken for a real alert, whoever reads the line.
        drill = "[EXERCISE 演练] " if event.exercise else ""
    elif isinstance(event, ReferralRequested | ReferralOverdue):
        where = f"offer {event.offer}"
    return (
        f"{when}  {delivery.kind:<18} case {clean(delivery.case_id, 64)}  {where}{attempt}  "
        f"{drill}{describe(delivery)}"
    )


def to_json(delivery: Delivery) -> dict[str, Any]:
    """A JSON-ready object: the delivery, its CloudEvents attributes and origin.

    The delivered event's type is named beside it (`event_type`), since its
    fields alone do not say which of the five it is; a referral or a notice
    about one carries its `referral_id`."""
    event = delivery.event
    data = event.model_dump(mode="json")
    if isinstance(event, AlertDelivery):
        data["event_type"] = event.event.avro_name
    meta = delivery.meta
    return {
        "kind": delivery.kind,
        # A drill's delivery (AlertDelivery.exercise): forwarded systems must show it as one.
        "exercise": isinstance(event, AlertDelivery) and event.exercise,
        "delivery_id": delivery.delivery_id,
        "referral_id": delivery.referral_id,
        "case_id": delivery.case_id,
        "received_at": delivery.received_at.isoformat(timespec="milliseconds"),
        "latency_ms": delivery.latency_ms,
        "type": meta.type,
        "meta": {
            "id": meta.id,
            "source": meta.source,
            "type": meta.type,
            "time": meta.time.isoformat(timespec="milliseconds"),
            "subject": meta.subject,
            "correlation_id": meta.correlation_id,
            "causation_id": meta.causation_id,
            "classification": meta.classification.value,
        },
        "origin": {
            "topic": delivery.topic,
            "partition": delivery.partition,
            "offset": delivery.offset,
        },
        "data": data,
    }


def to_json_line(delivery: Delivery) -> str:
    return json.dumps(to_json(delivery), ensure_ascii=False, separators=(",", ":"))
