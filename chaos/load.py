"""Bursts through the real front doors: alerts and rescues through intake's HTTP
API (the police system's OAuth token), health records through the hospital SDK.
What each door acknowledged is what must not be lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from homeward.events import (
    ChildDescription,
    RescuedPerson,
    ResponsibleOfficer,
)
from homeward.events.base import utcnow
from homeward_demo.identity import POLICE_AGENCY
from homeward_demo.rescue import OFFICER, RESCUE_PLACE, unknown_child
from homeward_demo.scenario import CENTRE
from homeward_health import HealthRecorder
from homeward_health.recorder import RecordUnavailable, event_id_of
from homeward_health.synthetic import DEMO_HOSPITALS, KINDS, Planted, birth, planted
from homeward_intake.client import IntakeClient, IntakeError

#: Minutes since the child was last seen: well inside the first ring (up to 1 h), so no
#: widening falls due while a scenario runs.
LAST_SEEN_MINUTES_AGO = 5


@dataclass
class Accepted:
    """What a front door acknowledged: event id -> (kind, case id)."""

    events: dict[str, tuple[str, str]] = field(default_factory=dict)
    sent: int = 0
    refused: int = 0  # answers that were not 202 after every retry (nothing promised)
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_sent(self) -> None:
        with self.lock:
            self.sent += 1

    def add(self, event_id: str, kind: str, case_id: str) -> None:
        with self.lock:
            self.events[event_id] = (kind, case_id)

    def of(self, kind: str) -> dict[str, str]:
        return {e: c for e, (k, c) in self.events.items() if k == kind}


def case_id(tag: str, n: int) -> str:
    # In POL-0001's namespace: intake refuses a case id another agency would own.
    return f"{POLICE_AGENCY}-CHAOS-{tag}-{n:05d}"


def alert_fields(case: str, last_seen_ago: timedelta | None = None) -> dict[str, Any]:
    ago = last_seen_ago if last_seen_ago is not None else timedelta(minutes=LAST_SEEN_MINUTES_AGO)
    return {
        "case_id": case,
        "issuing_unit": "Sampleville County Police Bureau (fictional)",
        "chief_officer": ResponsibleOfficer(
            officer_id="OFFICER-0007",
            name="Officer Example Li",
            unit="Sampleville County Police Bureau (fictional)",
        ),
        "child": ChildDescription(name="Test Child C", sex="female", age_years=7),
        "last_seen": CENTRE,
        "last_seen_at": utcnow() - ago,
        "public_summary": "MISSING (chaos test): girl, 7, green coat. Fictional.",
    }


def rescued_person() -> RescuedPerson:
    """The demo's second child (no guardians, no identity, no means): the most referrals."""
    person = unknown_child()["person"]
    assert isinstance(person, RescuedPerson)
    return person


def rescue_fields(case: str, n: int) -> dict[str, Any]:
    return {
        "case_id": case,
        "rescue_id": f"RESCUE-CHAOS-{n:05d}",
        "rescuing_unit": OFFICER.unit,
        "officer": OFFICER,
        "person": rescued_person(),
        "rescued_at": utcnow(),
        "location": RESCUE_PLACE,
        "closes_alert": False,
        "notes": "Synthetic chaos-test rescue.",
    }


class IntakeDriver:
    """Posts through IntakeClient with one Idempotency-Key per request, and retries that
    key until `patience` runs out, as a careful client does while intake restarts."""

    def __init__(self, url: str, tokens: Any, *, threads: int = 4, patience: float = 90):
        self.url = url
        self.tokens = tokens
        self.threads = threads
        self.patience = patience

    def _post(self, client: IntakeClient, call: Callable[[IntakeClient], Any]) -> Any:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                return call(client)
            except (IntakeError, httpx.HTTPError) as exc:
                status = getattr(exc, "status", None)
                if status is not None and 400 <= status < 500 and status != 429:
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # the client's own backoff is spent; intake is restarting

    def burst(
        self,
        accepted: Accepted,
        tag: str,
        count: int,
        *,
        rescue_every: int = 0,
        during: Callable[[int], None] | None = None,
        last_seen_ago: timedelta | None = None,
        updates: int = 0,
    ) -> None:
        """`count` alerts (and a rescue of every `rescue_every`-th case); `during(i)` is
        called from the driver's thread after the i-th alert is accepted; `last_seen_ago`
        (default LAST_SEEN_MINUTES_AGO) is taken as each alert is posted; `updates`
        internal updates (new information, nothing public) follow each alert."""
        done = threading.Semaphore(0)
        stop_hook = threading.Event()

        def one(n: int) -> None:
            case = case_id(tag, n)
            with IntakeClient(self.url, token_provider=self.tokens) as client:
                accepted.count_sent()
                # Built once: a retry is the same request (its times included), or
                # intake rightly answers 409 idempotency_conflict to the changed body.
                alert = alert_fields(case, last_seen_ago)
                try:
                    a = self._post(
                        client,
                        lambda c: c.issue_alert(idempotency_key=f"{case}/alert", **alert),
                    )
                    accepted.add(a.event_id, "alert", case)
                    for u in range(updates):
                        accepted.count_sent()
                        up = self._post(
                            client,
                            lambda c, u=u: c.update_alert(
                                case,
                                idempotency_key=f"{case}/update/{u}",
                                new_information=f"Synthetic chaos-test update {u + 1}.",
                            ),
                        )
                        accepted.add(up.event_id, "update", case)
                    if rescue_every and n % rescue_every == 0:
                        accepted.count_sent()
                        rescue = rescue_fields(case, n)
                        r = self._post(
                            client,
                            lambda c: c.notify_rescue(idempotency_key=f"{case}/rescue", **rescue),
                        )
                        accepted.add(r.event_id, "rescue", case)
                except (IntakeError, httpx.HTTPError) as exc:
                    with accepted.lock:
                        accepted.refused += 1
                        accepted.refusals.append(f"{case}: {exc}"[:300])
                finally:
                    done.release()

        def hooks() -> None:
            for i in range(count):
                done.acquire()
                if during is not None and not stop_hook.is_set():
                    during(i + 1)

        watcher = threading.Thread(target=hooks, name="chaos-hooks", daemon=True)
        watcher.start()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="chaos-intake") as pool:
            list(pool.map(one, range(count)))
        watcher.join()


@dataclass
class HealthBurst:
    planted: list[Planted] = field(default_factory=list)
    record_ids: set[str] = field(default_factory=set)
    sent: int = 0
    retried: int = 0  # groups sent again after RecordUnavailable


# How long a hospital's system goes on retrying a group the SDK could not record
# (its event ids are the content's, so a retry is the same records, not new ones).
RETRY_FOR_SECONDS = 120


def health_burst(
    recorder: HealthRecorder,
    tag: str,
    births: int,
    *,
    during: Callable[[int], None] | None = None,
) -> HealthBurst:
    """`births` consistent births and each kind of planted anomaly once, group by group;
    `during(i)` after the i-th group is acknowledged."""
    out = HealthBurst()
    start = utcnow() - timedelta(hours=12)
    groups: list[list[Any]] = []
    for i in range(births):
        groups.append(birth(f"{tag}{i:04d}", DEMO_HOSPITALS[i % 2], start + timedelta(minutes=i)))
    reused = f"CERT-{tag}{0:04d}"
    for n, kind in enumerate(KINDS, start=1):
        group = planted(kind, f"{tag}P{n}", DEMO_HOSPITALS, start + timedelta(hours=1), reused)
        out.planted.append(group)
        groups.append(group.records)
    for i, records in enumerate(groups, start=1):
        out.sent += len(records)
        give_up = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            try:
                recorder.record_many(records)
                break
            except RecordUnavailable:
                if time.monotonic() > give_up:
                    raise
                out.retried += 1
        out.record_ids |= {event_id_of(r) for r in records}
        if during is not None:
            during(i)
    return out
