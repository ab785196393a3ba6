"""The gateway's inboxes: every agency's deliveries in memory, rebuilt from the
inbox topics at start (Kafka is the only state, GUIDE), one entry per delivery.

Each entry gets a gateway-wide `seq` that only grows: it is the page cursor and
the server-sent event id, so a client that reconnects with `Last-Event-ID`
gets exactly what came after. The per-delivery state the console and the API
show is kept beside the entries and applied in place: who acknowledged a
delivery and when, an alert's current state (updates, sightings, the ring; a
cancelled alert is closed) and a referral's status (the SDK's ReferralMemory,
so answers are checked as the SDK checks them).

Thread-safe: the follower thread adds, the HTTP event loop reads and waits.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from homeward.events import (
    AlertCancelled,
    AlertDelivery,
    AlertIssued,
    AlertUpdated,
    HealthAnomalyDetected,
    MandatoryReportFiled,
    PublicNotice,
    ReferralRequested,
    ReportAcknowledged,
    SightingReported,
    TaskStatus,
)
from homeward.events.base import Event
from homeward_agency.answers import ReferralMemory
from homeward_agency.delivery import Delivery

MAX_LIMIT = 200
MAX_ANOMALIES = 10_000
"""The anomalies held in memory; beyond it the oldest are dropped (the topic keeps them all)."""


@dataclass(frozen=True)
class Acknowledgement:
    """Who acknowledged a delivery (the actor's principal) and when."""

    by: str
    at: datetime
    agency_id: str
    event_id: str = ""


@dataclass
class AlertState:
    """One case's alert as an agency last heard of it, updated in place by every
    delivery about it (issue, updates, sightings, widening, cancellation)."""

    case_id: str
    issued: AlertIssued | None = None
    updates: list[AlertUpdated] = field(default_factory=list)
    sightings: list[SightingReported] = field(default_factory=list)
    notice: PublicNotice | None = None
    cancelled: AlertCancelled | None = None
    ring_km: int = 0
    distance_km: float = 0.0
    drill: bool = False

    @property
    def closed(self) -> bool:
        return self.cancelled is not None or (
            self.notice is not None and self.notice.status == "closed"
        )

    def apply(self, delivery: AlertDelivery) -> None:
        inner = delivery.event
        self.ring_km = max(self.ring_km, delivery.ring_km)
        self.distance_km = delivery.distance_km
        if isinstance(inner, AlertIssued):
            self.issued = inner
        elif isinstance(inner, AlertUpdated):
            self.updates.append(inner)
        elif isinstance(inner, SightingReported):
            self.sightings.append(inner)
        elif isinstance(inner, AlertCancelled):
            self.cancelled = inner
        elif isinstance(inner, PublicNotice):
            self.notice = inner


@dataclass
class InboxEntry:
    """One delivery in one agency's inbox."""

    seq: int
    agency_id: str
    delivery: Delivery
    received_at: datetime
    """When the fan-out or router wrote it (the record's timestamp)."""
    acknowledged: Acknowledgement | None = None
    alert: AlertState | None = None
    """The case's alert state, shared by every entry of the case in this inbox."""

    @property
    def delivery_id(self) -> str:
        return self.delivery.delivery_id

    @property
    def kind(self) -> str:
        return self.delivery.kind

    @property
    def cursor(self) -> int:
        """The record's offset in its agency's inbox partition: the same in every
        replica and after a restart (the API's cursor and SSE id)."""
        return self.delivery.offset

    @property
    def primary(self) -> bool:
        """An alert delivery or a referral offer: what an id names first."""
        return self.delivery.needs_ack or isinstance(self.delivery.event, ReferralRequested)


@dataclass(frozen=True)
class Page:
    entries: list[InboxEntry]
    next_cursor: int | None
    """Pass as `before` (`after` for a replay) for the next page; None on the last."""


@dataclass
class FiledReportEntry:
    """A mandatory report on police.reports.v1 and its acknowledgement, if any."""

    seq: int
    report: MandatoryReportFiled
    event_id: str
    filed_at: datetime
    acknowledged: Acknowledgement | None = None
    police_unit: str = ""

    @property
    def report_id(self) -> str:
        return self.report.case_id


@dataclass(frozen=True)
class AnomalyEntry:
    """A health-record anomaly the detector raised on police.anomalies.v1."""

    seq: int
    anomaly: HealthAnomalyDetected
    event_id: str
    raised_at: datetime
    """When the detector published it (the record's time)."""

    @property
    def anomaly_id(self) -> str:
        return self.anomaly.case_id


Listener = Callable[[InboxEntry], None]


class InboxStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._entries: dict[str, list[InboxEntry]] = {}  # by agency, seq ascending
        self._seqs: dict[str, list[int]] = {}  # the same, seqs only (for bisect)
        self._offsets: dict[str, list[int]] = {}  # the same, Kafka offsets (cursors)
        self._seen: dict[str, set[str]] = {}  # dedup keys per agency
        self._by_id: dict[tuple[str, str], InboxEntry] = {}
        self._alerts: dict[tuple[str, str], AlertState] = {}
        self._acks: dict[tuple[str, str], Acknowledgement] = {}
        self._listeners: list[Listener] = []
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.referrals = ReferralMemory()
        self._reports: dict[str, FiledReportEntry] = {}
        self._report_acks: dict[str, tuple[Acknowledgement, str]] = {}
        self._report_seq = 0
        self._anomalies: OrderedDict[str, AnomalyEntry] = OrderedDict()  # oldest first
        self._anomaly_seq = 0
        self.max_anomalies = MAX_ANOMALIES

    # -- writing (the follower) ---------------------------------------------------
    def add(self, delivery: Delivery, agency_id: str | None = None) -> InboxEntry | None:
        """Add one delivery to the inbox of `agency_id` (default: the record key);
        None when it is a copy already held (a resend, a redelivered record)."""
        agency = agency_id or delivery.key
        with self._lock:
            seen = self._seen.setdefault(agency, set())
            if delivery.dedup_key in seen:
                return None
            seen.add(delivery.dedup_key)
            self._seq += 1
            entry = InboxEntry(
                seq=self._seq,
                agency_id=agency,
                delivery=delivery,
                received_at=delivery.received_at,
                acknowledged=self._acks.get((agency, delivery.delivery_id)),
            )
            event = delivery.event
            if isinstance(event, AlertDelivery):
                state = self._alerts.get((agency, delivery.case_id))
                if state is None:
                    state = self._alerts[(agency, delivery.case_id)] = AlertState(delivery.case_id)
                state.apply(event)
                entry.alert = state
            self.referrals.observe(agency, event)
            self._entries.setdefault(agency, []).append(entry)
            self._seqs.setdefault(agency, []).append(entry.seq)
            self._offsets.setdefault(agency, []).append(delivery.offset)
            key = (agency, delivery.delivery_id)
            held = self._by_id.get(key)
            if held is None or entry.primary or not held.primary:
                self._by_id[key] = entry
            listeners = list(self._listeners)
            waiters = list(self._waiters)
        for loop, ready in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed; its waiter is gone
                loop.call_soon_threadsafe(ready.set)
        for listener in listeners:
            listener(entry)
        return entry

    def acknowledge(
        self, agency_id: str, delivery_id: str, ack: Acknowledgement
    ) -> Acknowledgement:
        """Record an acknowledgement (read back from alerts.acks.v1, or just sent);
        the first one stands. Returns the one that stands."""
        with self._lock:
            key = (agency_id, delivery_id)
            first = self._acks.setdefault(key, ack)
            for entry in self._entries.get(agency_id, []):
                if entry.delivery_id == delivery_id and entry.delivery.needs_ack:
                    entry.acknowledged = entry.acknowledged or first
            return first

    def acknowledgement(self, agency_id: str, delivery_id: str) -> Acknowledgement | None:
        with self._lock:
            return self._acks.get((agency_id, delivery_id))

    def observe_referral(self, agency_id: str, event: Event) -> None:
        """Learn a referral's status from an event that is not an inbox entry
        (an answer just sent, the router's status changes)."""
        self.referrals.observe(agency_id, event)

    # -- reading (the API, the console) -------------------------------------------
    def page(
        self,
        agency_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> Page:
        """Newest first, entries with seq < `before` (default: from the newest);
        with `after`, oldest first from the one after it (a replay)."""
        limit = max(1, min(limit, MAX_LIMIT))
        with self._lock:
            entries = self._entries.get(agency_id, [])
            seqs = self._seqs.get(agency_id, [])
            if after is not None:
                start = bisect.bisect_right(seqs, after)
                chunk = entries[start : start + limit]
                more = start + limit < len(entries)
                return Page(chunk, chunk[-1].seq if more and chunk else None)
            end = len(entries) if before is None else bisect.bisect_left(seqs, before)
            start = max(0, end - limit)
            chunk = list(reversed(entries[start:end]))
            return Page(chunk, chunk[-1].seq if start > 0 and chunk else None)

    def get(self, agency_id: str, delivery_id: str) -> InboxEntry | None:
        """The delivery `delivery_id` in `agency_id`'s inbox; None for an id that
        is not this agency's (the API answers 404 either way)."""
        with self._lock:
            return self._by_id.get((agency_id, delivery_id))

    def entries(self, agency_id: str) -> list[InboxEntry]:
        with self._lock:
            return list(self._entries.get(agency_id, []))

    def agencies(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    # -- cursors that outlive this process -------------------------------------------
    # One agency's deliveries are all on one partition of its type's inbox (the
    # key is its id), so the record's offset orders them the same way in every
    # replica and after every restart, which `seq` (this process's arrival
    # order across all partitions) does not. The API hands out offsets as
    # cursors and SSE ids; these turn one back into a seq.
    def seq_after_cursor(self, agency_id: str, cursor: int) -> int:
        """The seq of the agency's last entry at or before offset `cursor` (0:
        none), so `wait(after=...)` replays exactly what came after it."""
        with self._lock:
            offsets = self._offsets.get(agency_id, [])
            i = bisect.bisect_right(offsets, cursor)
            return self._seqs[agency_id][i - 1] if i else 0

    def seq_before_cursor(self, agency_id: str, cursor: int) -> int | None:
        """The `before` seq for a page of the entries older than offset `cursor`;
        None when every entry is older (the page then starts from the newest)."""
        with self._lock:
            offsets = self._offsets.get(agency_id, [])
            i = bisect.bisect_left(offsets, cursor)
            return self._seqs[agency_id][i] if i < len(offsets) else None

    def cursor_page(self, agency_id: str, cursor: int | None = None, limit: int = 50) -> Page:
        """A page for the API: newest first, entries older than offset `cursor`
        (default: from the newest); `next_cursor` is an offset too."""
        # None: every entry is older than the cursor (or there is none): from the newest.
        before = None if cursor is None else self.seq_before_cursor(agency_id, cursor)
        page = self.page(agency_id, before=before, limit=limit)
        more = page.next_cursor is not None and bool(page.entries)
        return Page(page.entries, page.entries[-1].cursor if more else None)

    def referral_status(self, agency_id: str, case_id: str, referral_id: str) -> TaskStatus | None:
        return self.referrals.get(agency_id, case_id, referral_id)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._entries.values())

    # -- live ---------------------------------------------------------------------
    def listen(self, callback: Listener) -> None:
        """Call `callback(entry)` for every new entry, on the follower's thread
        (keep it short; hand work to your own queue)."""
        with self._lock:
            self._listeners.append(callback)

    async def wait(self, agency_id: str, after: int, timeout: float) -> list[InboxEntry]:
        """The entries after `after` (oldest first, at most MAX_LIMIT); if none
        yet, wait up to `timeout` seconds for one."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        waiter = (loop, ready)
        with self._lock:
            self._waiters.add(waiter)
        try:
            deadline = loop.time() + timeout
            while True:
                ready.clear()
                found = self.page(agency_id, after=after, limit=MAX_LIMIT).entries
                remaining = deadline - loop.time()
                if found or remaining <= 0:
                    return found
                try:
                    await asyncio.wait_for(ready.wait(), remaining)
                except TimeoutError:
                    return self.page(agency_id, after=after, limit=MAX_LIMIT).entries
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    # -- police's report desk -----------------------------------------------------
    def add_report(self, report: MandatoryReportFiled, event_id: str, filed_at: datetime) -> None:
        with self._lock:
            if report.case_id in self._reports:
                return
            self._report_seq += 1
            entry = FiledReportEntry(self._report_seq, report, event_id, filed_at)
            known = self._report_acks.get(report.case_id)
            if known is not None:
                entry.acknowledged, entry.police_unit = known
            self._reports[report.case_id] = entry

    def acknowledge_report(
        self, ack: ReportAcknowledged, by: str, at: datetime | None = None
    ) -> Acknowledgement:
        """Record a report's acknowledgement; the first one stands."""
        with self._lock:
            mine = Acknowledgement(by=by, at=at or datetime.now(UTC), agency_id=ack.agency_id)
            first, unit = self._report_acks.setdefault(ack.case_id, (mine, ack.police_unit))
            entry = self._reports.get(ack.case_id)
            if entry is not None and entry.acknowledged is None:
                entry.acknowledged, entry.police_unit = first, unit
            return first

    def reports(self) -> list[FiledReportEntry]:
        """Every report, newest first."""
        with self._lock:
            return sorted(self._reports.values(), key=lambda r: r.seq, reverse=True)

    def report(self, report_id: str) -> FiledReportEntry | None:
        with self._lock:
            return self._reports.get(report_id)

    # -- police's health-record anomalies -------------------------------------------
    def add_anomaly(
        self, anomaly: HealthAnomalyDetected, event_id: str, raised_at: datetime
    ) -> None:
        """Hold one anomaly; the detector's id is stable (same evidence, same id),
        so a copy is dropped. Beyond max_anomalies the oldest goes."""
        with self._lock:
            if anomaly.case_id in self._anomalies:
                return
            self._anomaly_seq += 1
            self._anomalies[anomaly.case_id] = AnomalyEntry(
                self._anomaly_seq, anomaly, event_id, raised_at
            )
            while len(self._anomalies) > self.max_anomalies:
                self._anomalies.popitem(last=False)

    def anomalies(self, limit: int = 50) -> list[AnomalyEntry]:
        """The newest `limit` (at most MAX_LIMIT), newest first."""
        limit = max(1, min(limit, MAX_LIMIT))
        with self._lock:
            newest = reversed(self._anomalies.values())
            return [entry for _, entry in zip(range(limit), newest, strict=False)]

    def anomaly(self, anomaly_id: str) -> AnomalyEntry | None:
        with self._lock:
            return self._anomalies.get(anomaly_id)
