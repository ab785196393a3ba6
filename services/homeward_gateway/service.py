"""The gateway's facade: what the HTTP API and the console do for a verified caller.

Every method takes a `homeward.auth.Principal`, checks the roles table first
and reads only the caller's own agency's inbox (`principal.agency_id`): an id
of another agency's delivery is simply not found. Each write publishes exactly
the record the agency SDK (homeward_agency) would, with the caller as actor,
waits for the broker's acknowledgement, then puts an entry on the audit record
(as intake does): a write that cannot be recorded is answered 503.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from homeward import lifecycle
from homeward.audit import AuditEntry, Auditor, AuditOutcome, MemoryAuditor
from homeward.auth import Action, Principal, current_roles
from homeward.codec import Codec, Record
from homeward.errors import HomewardError, PublishUnavailable
from homeward.events import (
    AgencyAcknowledgement,
    Outcome,
    RejectionReason,
    ReportAcknowledged,
    TaskStatus,
)
from homeward.events.base import Event
from homeward.http.auth import actor_of
from homeward.lifecycle import TransitionError
from homeward.metrics import EVENTS_PRODUCED, GATEWAY_WRITES
from homeward.topology import Topology, answer_topic_id
from homeward_agency import answers
from homeward_agency.delivery import acknowledgement, source_for
from homeward_gateway.store import (
    Acknowledgement,
    AnomalyEntry,
    FiledReportEntry,
    InboxEntry,
    InboxStore,
    Page,
)

log = logging.getLogger(__name__)

SERVICE = "gateway"

T = TypeVar("T")


class NotFound(HomewardError):
    """No such delivery in the caller's inbox (HTTP 404; also for another agency's id)."""


class NotAcknowledgeable(HomewardError):
    """The delivery is not an alert delivery (a referral is answered instead): 409."""


class InvalidAnswer(HomewardError):
    """An answer's codes are wrong (unknown code, a missing reason or outcome): 422."""


class IllegalAnswer(TransitionError):
    """The lifecycle does not allow this step from the referral's status (409)."""

    def __init__(self, reason: str, *, state: TaskStatus, allowed: list[str]) -> None:
        super().__init__(reason, field="status")
        self.state = state
        self.allowed = allowed


class Sink(Protocol):
    """Where the gateway's records go: send and wait for the broker's ack."""

    def send(self, topic: str, record: Record) -> None: ...

    def ready(self) -> bool: ...


class MemorySink:
    """Keeps what would be sent (unit tests); decodes nothing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Record]] = []
        self.down = False

    def send(self, topic: str, record: Record) -> None:
        if self.down:
            raise PublishUnavailable("Kafka is unavailable (simulated)")
        self.sent.append((topic, record))

    def ready(self) -> bool:
        return not self.down


@dataclass(frozen=True)
class AckResult:
    acknowledgement: Acknowledgement
    event: AgencyAcknowledgement | None
    """The record just published; None when the delivery was acknowledged before."""
    event_id: str = ""

    @property
    def repeated(self) -> bool:
        return self.event is None


@dataclass(frozen=True)
class AnswerResult:
    answer: answers.SentAnswer
    previous: TaskStatus | None


@dataclass(frozen=True)
class ReportAckResult:
    report: FiledReportEntry
    acknowledgement: Acknowledgement
    event: ReportAcknowledged | None

    @property
    def repeated(self) -> bool:
        return self.event is None


class Gateway:
    def __init__(
        self,
        store: InboxStore,
        sink: Sink,
        topology: Topology,
        *,
        codec: Codec | None = None,
        auditor: Auditor | None = None,
        send_timeout_seconds: float = 10.0,
        ready: Callable[[], bool] | None = None,
        catch_up: Callable[[float], bool] | None = None,
        catch_up_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.sink = sink
        self.topology = topology
        self.codec = codec or Codec()
        self.auditor: Auditor = auditor or MemoryAuditor()
        self.send_timeout = send_timeout_seconds
        self._ready = ready
        # Read-your-writes: the webhook dispatcher, an SDK subscriber or another
        # replica can tell an agency of a delivery before this instance's view has
        # read it, so a lookup that misses first reads the topics to their end.
        self._catch_up = catch_up
        self._catch_up_seconds = catch_up_seconds
        self._catch_up_lock = threading.Lock()
        self._caught_up_from = float("-inf")  # when the latest catch-up began
        # One write per delivery at a time in this instance, so a double click
        # publishes one acknowledgement (another instance's copy is de-duplicated
        # downstream: the fan-out keys acks by delivery id).
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def ready(self) -> bool:
        return self.sink.ready() and (self._ready() if self._ready else True)

    # -- reading ------------------------------------------------------------------
    def inbox(
        self,
        principal: Principal,
        *,
        before: int | None = None,
        after: int | None = None,
        cursor: int | None = None,
        limit: int = 50,
    ) -> Page:
        """The caller's inbox: by `cursor` (the API's: an offset, see
        InboxStore.cursor_page) or by seq (`before` / `after`, this process's)."""
        current_roles().require(principal, Action.INBOX_READ)
        if cursor is not None or (before is None and after is None):
            return self.store.cursor_page(principal.agency_id, cursor, limit)
        return self.store.page(principal.agency_id, before=before, after=after, limit=limit)

    def get(self, principal: Principal, delivery_id: str) -> InboxEntry:
        current_roles().require(principal, Action.INBOX_READ)
        return self._entry(principal, delivery_id)

    async def wait(self, principal: Principal, after: int, timeout: float) -> list[InboxEntry]:
        """The live stream's step: the caller's entries after `after`, waiting up to
        `timeout` for one. The roles check is the caller's (once per stream)."""
        return await self.store.wait(principal.agency_id, after, timeout)

    def referral_status(self, entry: InboxEntry) -> TaskStatus | None:
        referral_id = entry.delivery.referral_id
        if referral_id is None:
            return None
        return self.store.referral_status(entry.agency_id, entry.delivery.case_id, referral_id)

    def _entry(self, principal: Principal, delivery_id: str) -> InboxEntry:
        entry = self._found(lambda: self.store.get(principal.agency_id, delivery_id))
        if entry is None:
            # The same answer for an id that exists in another inbox: ids are not probed.
            raise NotFound("no such delivery in your agency's inbox", field="delivery_id")
        return entry

    # -- acknowledging an alert ---------------------------------------------------
    def acknowledge(self, principal: Principal, delivery_id: str, note: str = "") -> AckResult:
        """Publish the SDK's AgencyAcknowledgement (actor: the caller) on alerts.acks.v1;
        a second acknowledgement answers with the first and publishes nothing."""
        current_roles().require(principal, Action.ALERT_ACKNOWLEDGE)
        entry = self._entry(principal, delivery_id)
        if not entry.delivery.needs_ack:
            raise NotAcknowledgeable(
                f"a {entry.kind} is not acknowledged"
                + (" (answer the referral instead)" if entry.delivery.referral_id else ""),
                field="delivery_id",
            )
        with self._lock(principal.agency_id, delivery_id):
            known = self.store.acknowledgement(principal.agency_id, delivery_id)
            if known is not None:
                return AckResult(known, None)
            record, ack = acknowledgement(
                self.codec, entry.delivery, principal.agency_id, note, actor=actor_of(principal)
            )
            topic = self.topology.get("alert_acks").name
            event_id = self._publish(topic, record, ack)
            self._audit(principal, Action.ALERT_ACKNOWLEDGE, ack, event_id, topic, delivery_id)
            stands = self.store.acknowledge(
                principal.agency_id,
                delivery_id,
                Acknowledgement(
                    by=principal.name,
                    at=datetime.now(UTC),
                    agency_id=principal.agency_id,
                    event_id=event_id,
                ),
            )
            return AckResult(stands, ack, event_id)

    # -- answering a referral -----------------------------------------------------
    def answer_referral(
        self,
        principal: Principal,
        delivery_id: str,
        status: TaskStatus | str,
        reason_code: RejectionReason | str | None = None,
        note: str | None = None,
        outcome: Outcome | str | None = None,
    ) -> AnswerResult:
        """Publish the SDK's ReferralAnswered, checked as the SDK checks it against
        the status the inbox holds; police answer on police.referrals.v1, every
        other agency on referrals.answers.v1."""
        current_roles().require(principal, Action.REFERRAL_ANSWER)
        entry = self._entry(principal, delivery_id)
        referral_id = entry.delivery.referral_id
        if referral_id is None:
            raise NotFound("no such referral in your agency's inbox", field="delivery_id")
        try:
            new, code, result = answers.coded(status, reason_code, outcome)
            lifecycle.check_answer(new, code, result)
        except TransitionError as exc:
            raise InvalidAnswer(exc.reason, field=exc.field) from None
        agency, case_id = principal.agency_id, entry.delivery.case_id
        topic = self.topology.get(answer_topic_id(principal.agency_type)).name
        with self._lock(agency, "referral:" + referral_id):
            current = self.store.referral_status(agency, case_id, referral_id)
            try:
                record, sent = answers.prepare(
                    self.codec,
                    self.store.referrals,
                    agency_id=agency,
                    topic=topic,
                    case_id=case_id,
                    referral_id=referral_id,
                    status=new,
                    reason=code,
                    outcome=result,
                    note=note or "",
                    causation_id=entry.delivery.meta.id,
                    actor=actor_of(principal),
                )
            except TransitionError as exc:
                state = current or TaskStatus.REQUESTED
                raise IllegalAnswer(
                    exc.reason, state=state, allowed=lifecycle.allowed(state)
                ) from None
            self._send(topic, record, sent.event)
            self._audit(
                principal,
                Action.REFERRAL_ANSWER,
                sent.event,
                sent.event_id,
                topic,
                delivery_id,
                referral_id=referral_id,
            )
            self.store.referrals.sent(sent)
            return AnswerResult(sent, current)

    # -- police's report desk -----------------------------------------------------
    def reports(self, principal: Principal) -> list[FiledReportEntry]:
        """Every mandatory report filed, newest first (police with report.acknowledge)."""
        current_roles().require(principal, Action.REPORT_ACKNOWLEDGE)
        return self.store.reports()

    def acknowledge_report(
        self, principal: Principal, report_id: str, police_unit: str | None = None, note: str = ""
    ) -> ReportAckResult:
        """Publish the SDK's ReportAcknowledged (ReportDesk.acknowledge) on
        police.reports.v1, for the caller's police agency; the first one stands."""
        current_roles().require(principal, Action.REPORT_ACKNOWLEDGE)
        filed = self._found(lambda: self.store.report(report_id))
        if filed is None:
            raise NotFound("no such report", field="report_id")
        with self._lock("report", report_id):
            if filed.acknowledged is not None:
                return ReportAckResult(filed, filed.acknowledged, None)
            ack = ReportAcknowledged(
                case_id=filed.report_id,
                police_unit=police_unit or principal.agency_id,
                agency_id=principal.agency_id,
                note=note,
                actor=actor_of(principal),
            )
            event_id = str(uuid.uuid4())
            record, _meta = self.codec.encode(
                ack,
                key=filed.report_id,
                source=source_for(principal.agency_id),
                correlation_id=filed.report_id,
                causation_id=filed.event_id,
                event_id=event_id,
            )
            topic = self.topology.get("reports").name
            self._send(topic, record, ack)
            self._audit(principal, Action.REPORT_ACKNOWLEDGE, ack, event_id, topic, report_id)
            stands = self.store.acknowledge_report(ack, principal.name)
            return ReportAckResult(filed, stands, ack)

    # -- police's health-record anomalies ----------------------------------------
    # Every police principal with police_only.read sees every anomaly: an anomaly
    # names a hospital, not a police unit, and nothing on the bus yet maps a
    # hospital to the unit whose jurisdiction it is in.
    def anomalies(self, principal: Principal, limit: int = 50) -> list[AnomalyEntry]:
        """The newest anomalies the detector raised, newest first (police_only.read);
        the read is on the audit record before it is answered."""
        current_roles().require(principal, Action.POLICE_ONLY_READ)
        found = self.store.anomalies(limit)
        self._audit_read(principal, "", {"read": "anomalies", "count": str(len(found))})
        return found

    def anomaly(self, principal: Principal, anomaly_id: str) -> AnomalyEntry:
        current_roles().require(principal, Action.POLICE_ONLY_READ)
        found = self._found(lambda: self.store.anomaly(anomaly_id))
        if found is None:
            raise NotFound("no such anomaly", field="anomaly_id")
        self._audit_read(principal, anomaly_id, {"read": "anomaly", "anomaly_id": anomaly_id})
        return found

    def _audit_read(self, principal: Principal, case_id: str, detail: dict[str, str]) -> None:
        # As intake's audit_read: a police-only read goes on the record first; one
        # that cannot be recorded is not answered (503).
        entry = AuditEntry(
            entry_id=f"read:{uuid.uuid4()}",
            at=datetime.now(UTC),
            service=SERVICE,
            action=Action.POLICE_ONLY_READ.value,
            outcome=AuditOutcome.READ,
            principal=principal.name,
            subject=principal.subject,
            agency_id=principal.agency_id,
            case_id=case_id,
            status=200,
            detail=detail,
        )
        try:
            self.auditor.record(entry)
        except Exception as exc:
            raise PublishUnavailable(f"the audit record could not be written: {exc}") from exc

    # -- plumbing -----------------------------------------------------------------
    def _found(self, lookup: Callable[[], T | None]) -> T | None:
        """`lookup()`, and if it finds nothing, again once the view has read every
        followed topic to the end it had when this call began."""
        asked_at = time.monotonic()
        found = lookup()
        if found is None and self._catch_up is not None and self._catch_up_seconds > 0:
            self._caught_up(asked_at)
            found = lookup()
        return found

    def _caught_up(self, asked_at: float) -> None:
        # One catch-up at a time; a caller that waited behind one which began
        # after it asked is served by it (that one's end offsets are later than
        # anything written before the caller asked), so a flood of unknown ids
        # costs one end-offsets query at a time, not one each.
        assert self._catch_up is not None
        with self._catch_up_lock:
            if self._caught_up_from >= asked_at:
                return
            self._caught_up_from = time.monotonic()
            if not self._catch_up(self._catch_up_seconds):
                log.info("inbox view not caught up within %.1f s", self._catch_up_seconds)

    def _lock(self, *key: str) -> threading.Lock:
        k = (key[0], ":".join(key[1:]))
        with self._locks_guard:
            return self._locks.setdefault(k, threading.Lock())

    def _publish(self, topic: str, record: Record, event: Event) -> str:
        self._send(topic, record, event)
        ce_id = dict(record.headers).get("ce_id") or b""
        return ce_id.decode()

    def _send(self, topic: str, record: Record, event: Event) -> None:
        if not self.sink.ready():
            raise PublishUnavailable("not connected to Kafka yet; retry shortly")
        self.sink.send(topic, record)
        EVENTS_PRODUCED.labels(SERVICE, topic, event.avro_name).inc()

    def _audit(
        self,
        principal: Principal,
        action: Action,
        event: Event,
        event_id: str,
        topic: str,
        delivery_id: str,
        **detail: str,
    ) -> None:
        entry = AuditEntry(
            entry_id=f"write:{event_id or uuid.uuid4()}",
            at=datetime.now(UTC),
            service=SERVICE,
            action=action.value,
            outcome=AuditOutcome.ACCEPTED,
            principal=principal.name,
            subject=principal.subject,
            agency_id=principal.agency_id,
            case_id=event.case_id,
            event_id=event_id,
            event_type=event.ce_type(),
            status=200,
            detail={"topic": topic, "delivery_id": delivery_id, **detail},
        )
        try:
            self.auditor.record(entry)
            GATEWAY_WRITES.labels(action.value).inc()
        except Exception as exc:
            # Published but not on the record: answered 503, so the caller
            # retries, which publishes again (the fan-out and the router drop
            # the copy: acks are keyed by delivery, answers judged by status)
            # and records it then.
            raise PublishUnavailable(f"the audit record could not be written: {exc}") from exc


__all__ = [
    "AckResult",
    "AnswerResult",
    "Gateway",
    "IllegalAnswer",
    "InvalidAnswer",
    "MemorySink",
    "NotAcknowledgeable",
    "NotFound",
    "ReportAckResult",
    "Sink",
]
