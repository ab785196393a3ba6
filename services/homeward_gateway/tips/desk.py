"""The tip line's decisions: take a public tip for a case that takes tips,
route it to the case's chief officer and unit, and let police of that unit
list, read and acknowledge (with a verdict) their tips. Every accepted tip,
acknowledgement and read is on the audit record (ids only)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from homeward.actors import public_actor
from homeward.audit import AuditEntry, Auditor, AuditOutcome
from homeward.auth import Action, Principal, current_roles
from homeward.codec import Codec, Record
from homeward.errors import HomewardError, ValidationError
from homeward.events import Actor, Event, TipAcknowledged, TipReceived
from homeward.events.tips import TipVerdict
from homeward_gateway.tips.book import TipBook, TipEntry
from homeward_gateway.tips.cases import PublicCases
from homeward_gateway.tips.models import TipSubmission, check_seen_at

SERVICE = "gateway"
SOURCE = "/homeward/gateway/tips"
# The codes a verdict may carry: what the plans' reward for valid leads and
# the coordination office's figures can count.
VERDICT_CODES: dict[TipVerdict, frozenset[str]] = {
    TipVerdict.UNASSESSED: frozenset({""}),
    TipVerdict.VALID: frozenset({"LEAD_CONFIRMED", "LED_TO_RECOVERY"}),
    TipVerdict.INVALID: frozenset({"NOT_THE_CHILD", "DUPLICATE", "UNVERIFIABLE", "MALICIOUS"}),
}


class NotFound(HomewardError):
    """404: an unknown case (or one that takes no tips), or another unit's tip."""


Publish = Callable[[str, Record], None]  # topic, record; returns once the broker has it


@dataclass(frozen=True)
class Limits:
    clock_skew: timedelta = timedelta(minutes=5)


def actor_of(caller: Principal) -> Actor:
    return Actor(
        principal=caller.name,
        subject=caller.subject,
        kind=caller.kind.value,
        agency_id=caller.agency_id,
        agency_type=caller.agency_type.value,
    )


class TipDesk:
    def __init__(
        self,
        *,
        cases: PublicCases,
        book: TipBook,
        publish: Publish,
        auditor: Auditor,
        topic: str,
        codec: Codec | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        sync: Callable[[float], bool] | None = None,
        sync_timeout: float = 2.0,
    ) -> None:
        self.cases = cases
        # Reads the alert log up to now: an alert issued a moment ago takes tips.
        self.sync = sync
        self.sync_timeout = sync_timeout
        self.book = book
        self.publish = publish
        self.auditor = auditor
        self.topic = topic
        self.codec = codec or Codec()
        self.limits = limits or Limits()
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- the public ----------------------------------------------------------------
    def submit(self, sub: TipSubmission, *, channel: str = "api") -> TipReceived:
        target = self.cases.target(sub.case_id)
        if target is None and self.sync is not None and self.sync(self.sync_timeout):
            target = self.cases.target(sub.case_id)
        if target is None:
            raise NotFound(
                "no active public alert for this case (unknown, not released to the public, "
                "or closed)",
                field="case_id",
            )
        now = self._now()
        check_seen_at(
            sub.seen_at, now=now, skew=self.limits.clock_skew, last_seen_at=target.last_seen_at
        )
        tip = TipReceived(
            case_id=sub.case_id,
            tip_id=f"TIP-{uuid.uuid4().hex[:20].upper()}",
            received_at=now,
            seen_at=sub.seen_at,
            place=sub.place,
            latitude=sub.latitude,
            longitude=sub.longitude,
            description=sub.description,
            contact=sub.contact,
            channel="form" if channel == "form" else "api",
            officer=target.officer,
            agency_id=target.agency_id,
            actor=public_actor(),
        )
        event_id = self._send(tip, now)
        self.book.apply(tip, event_id, now)
        self._audit(
            event_id,
            now,
            "tip.submit",
            AuditOutcome.ACCEPTED,
            tip,
            status=202,
            principal=tip.actor,
            detail={"tip_id": tip.tip_id, "channel": tip.channel, "unit": tip.agency_id},
        )
        return tip

    # -- police of the unit ---------------------------------------------------------
    def tips_of(self, caller: Principal, *, limit: int = 100) -> list[TipEntry]:
        current_roles().require(caller, Action.TIP_READ)
        entries = self.book.of_unit(caller.agency_id, limit=limit)
        self._audit_read(caller, "", {"count": str(len(entries))})
        return entries

    def tip(self, caller: Principal, tip_id: str) -> TipEntry:
        current_roles().require(caller, Action.TIP_READ)
        entry = self._own(caller, tip_id)
        self._audit_read(caller, entry.tip.case_id, {"tip_id": tip_id})
        return entry

    def acknowledge(
        self,
        caller: Principal,
        tip_id: str,
        *,
        verdict: TipVerdict = TipVerdict.UNASSESSED,
        code: str = "",
        note: str = "",
    ) -> TipAcknowledged:
        current_roles().require(caller, Action.TIP_ACKNOWLEDGE)
        entry = self._own(caller, tip_id)
        if code not in VERDICT_CODES[verdict]:
            allowed = sorted(c for c in VERDICT_CODES[verdict] if c) or ["(none)"]
            raise ValidationError(
                f"is not a code for verdict {verdict.value}; one of {', '.join(allowed)}",
                field="code",
            )
        ack = TipAcknowledged(
            case_id=entry.tip.case_id,
            tip_id=tip_id,
            agency_id=caller.agency_id,
            verdict=verdict,
            code=code,
            note=note,
            actor=actor_of(caller),
        )
        now = self._now()
        event_id = self._send(ack, now)
        self.book.apply(ack, event_id, now)
        self._audit(
            event_id,
            now,
            "tip.acknowledge",
            AuditOutcome.ACCEPTED,
            ack,
            status=202,
            principal=ack.actor,
            detail={"tip_id": tip_id, "verdict": verdict.value, "code": code},
        )
        return ack

    def _own(self, caller: Principal, tip_id: str) -> TipEntry:
        entry = self.book.get(caller.agency_id, tip_id)
        if entry is None:
            raise NotFound("no such tip for your unit", field="tip_id")
        return entry

    # -- the bus and the record ------------------------------------------------------
    def _send(self, event: Event, now: datetime) -> str:
        record, meta = self.codec.encode(
            event,
            key=event.case_id,
            source=SOURCE,
            correlation_id=event.case_id,
            time=now,
        )
        self.publish(self.topic, record)
        return meta.id

    def _audit(
        self,
        entry_id: str,
        at: datetime,
        action: str,
        outcome: AuditOutcome,
        event: Event | None,
        *,
        status: int,
        principal: Actor | None,
        detail: dict[str, str],
    ) -> None:
        self.auditor.record(
            AuditEntry(
                entry_id=entry_id,
                at=at,
                service=SERVICE,
                action=action,
                outcome=outcome,
                principal=principal.principal if principal else "",
                subject=principal.subject if principal else "",
                agency_id=principal.agency_id if principal else "",
                case_id=event.case_id if event else "",
                event_id=entry_id if event else "",
                event_type=event.ce_type() if event else "",
                status=status,
                detail=detail,
            )
        )

    def _audit_read(self, caller: Principal, case_id: str, detail: dict[str, str]) -> None:
        self.auditor.record(
            AuditEntry(
                entry_id=f"read:{uuid.uuid4()}",
                at=self._now(),
                service=SERVICE,
                action=Action.TIP_READ.value,
                outcome=AuditOutcome.READ,
                principal=caller.name,
                subject=caller.subject,
                agency_id=caller.agency_id,
                case_id=case_id,
                status=200,
                detail=detail,
            )
        )
