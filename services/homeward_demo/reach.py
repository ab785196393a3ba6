"""The demo's agencies that run no Kafka consumer: they receive through the gateway.

- By webhook: the gateway signs each delivery (Standard Webhooks) and POSTs it to
  the agency's endpoint. The demo plays that endpoint as an agency's own small
  system would: it checks the signature, answers 204 at once, then acknowledges
  the alert (and answers a referral) through the gateway's HTTP API with the
  agency's client credentials, since a 2xx is no acknowledgement.
- On the gateway's API: the live stream (`GET /v1/inbox/stream`, server-sent
  events) that the console's page uses, with the same acknowledgements and
  answers over HTTP.

Each agency acts as itself (its own `agency-system-<id>` client of the realm),
silent agencies never acknowledge, and the referral answers follow the same
policy as the SDK's simulated agencies, so the case plays the same whichever way
an agency receives. The latency recorded is intake's acceptance (the delivery's
`accepted_at`) to the moment the demo's agency held the delivery.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from homeward.agencies import Agency, DeliveryMode
from homeward.auth.oidc_client import ClientCredentials
from homeward.events import ReferralRequested
from homeward.webhook_signing import Secret, verify
from homeward_agency.answers import PlannedAnswer
from homeward_agency.fleet import quantile

log = logging.getLogger(__name__)

AnswerPolicy = Callable[[ReferralRequested], Iterable[PlannedAnswer]]
TokenFor = Callable[[str], ClientCredentials]

WEBHOOK = "webhook"
GATEWAY = "gateway"
SDK = "sdk"


def channel_of(agency: Agency) -> str:
    if agency.delivery_mode is DeliveryMode.WEBHOOK:
        return WEBHOOK
    if agency.delivery_mode is DeliveryMode.GATEWAY:
        return GATEWAY
    return SDK


def agency_client(agency_id: str) -> str:
    """The realm's client for an agency's own system (homeward.idp.realm)."""
    return f"agency-system-{agency_id.lower()}"


@dataclass
class Channel:
    """What one way of receiving carried in this run."""

    agencies: dict[str, str] = field(default_factory=dict)  # agency id -> type
    deliveries: Counter[str] = field(default_factory=Counter)  # per kind
    reached: dict[str, set[str]] = field(default_factory=dict)  # agency type -> agency ids
    latencies_ms: list[float] = field(default_factory=list)
    duplicates: int = 0
    refused: int = 0  # a webhook whose signature did not verify
    acks: int = 0
    answers: int = 0
    errors: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "agencies": len(self.agencies),
            "agency_types_reached": sorted(self.reached),
            "agencies_reached": sum(len(v) for v in self.reached.values()),
            "deliveries_by_kind": dict(sorted(self.deliveries.items())),
            "latency_ms": {
                "samples": len(self.latencies_ms),
                "p50": quantile(self.latencies_ms, 0.5),
                "p99": quantile(self.latencies_ms, 0.99),
            },
            "duplicates_dropped": self.duplicates,
            "bad_signatures": self.refused,
            "acks_sent": self.acks,
            "answers_sent": self.answers,
            "http_errors": self.errors,
        }


class Agenda:
    """Runs each action at its time (acknowledgement delays, answers).

    One thread keeps the clock; the actions run on a pool, one queue per agency:
    each agency's calls in the order they fell due (its system answers a referral
    accept-then-complete, never both at once: run side by side, the second was a
    409), different agencies side by side (run one after another, a slow broker
    acknowledgement, 250 ms on a loaded 2-core machine, queued 80 agencies'
    acknowledgements for 20 s, past the fan-out's resend and escalation)."""

    def __init__(self, workers: int = 16) -> None:
        self._heap: list[tuple[float, int, str, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self._running = 0  # taken from the heap, not yet finished
        self._queues: dict[str, deque[Callable[[], None]]] = {}  # agency -> due, in order
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demo-agency")
        self._thread = threading.Thread(target=self._run, name="demo-agenda", daemon=True)
        self._thread.start()

    def at(self, delay: float, action: Callable[[], None], agency: str = "") -> None:
        with self._cv:
            due = time.monotonic() + delay
            heapq.heappush(self._heap, (due, next(self._seq), agency, action))
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._heap) + self._running

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(wait)
                if self._stop:
                    return
                _, _, agency, action = heapq.heappop(self._heap)
                self._running += 1
                queue = self._queues.get(agency)
                if queue is not None:  # that agency's worker is busy: it takes this next
                    queue.append(action)
                    continue
                self._queues[agency] = deque([action])
            self._pool.submit(self._drain, agency)

    def _drain(self, agency: str) -> None:
        while True:
            with self._cv:
                queue = self._queues[agency]
                if not queue:
                    del self._queues[agency]
                    return
                action = queue.popleft()
            try:
                action()
            except Exception:  # one agency's failure is counted by the action itself
                log.warning("a demo agency's action failed", exc_info=True)
            finally:
                with self._cv:
                    self._running -= 1

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)


class GatewayAgencies:
    """Every demo agency that is not on the SDK: its system's calls to the gateway,
    its webhook endpoint (one server, a path per agency) and its live stream."""

    def __init__(
        self,
        gateway_url: str,
        agencies: Iterable[Agency],
        token_for: TokenFor,
        *,
        silent: Iterable[str] = (),
        ack_delay: Callable[[str], float] = lambda _a: 0.0,
        answer_policy: AnswerPolicy | None = None,
        initial_ring_km: int | None = None,
    ) -> None:
        self.url = gateway_url.rstrip("/")
        self.agencies = {a.id: a for a in agencies if channel_of(a) != SDK}
        self.token_for = token_for
        self.silent = frozenset(silent)
        self.ack_delay = ack_delay
        self.answer_policy = answer_policy
        self.initial_ring_km = initial_ring_km
        self.channels = {WEBHOOK: Channel(), GATEWAY: Channel()}
        for a in self.agencies.values():
            self.channels[channel_of(a)].agencies[a.id] = a.type.value
        self.secrets = {
            a.id: Secret.generate() for a in self.agencies.values() if channel_of(a) == WEBHOOK
        }
        self._tokens: dict[str, ClientCredentials] = {}
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._agenda = Agenda()
        self._http = httpx.Client(base_url=self.url, timeout=10.0)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    def set_url(self, gateway_url: str) -> None:
        self.url = gateway_url.rstrip("/")
        self._http.close()
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    # -- the webhook endpoint --------------------------------------------------
    def start_webhooks(self) -> str:
        """Serve every webhook agency's endpoint; returns the base URL."""
        owner = self

        class Endpoint(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                agency_id = self.path.rstrip("/").rsplit("/", 1)[-1]
                status = owner._on_webhook(agency_id, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, name="demo-webhooks", daemon=True
        ).start()
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def write_registry(self, path: Path, base_url: str) -> Path:
        """The gateway's endpoint registry for this run: a fresh secret per agency,
        in a file beside it (a `file:` reference, as a site keeps them)."""
        endpoints: dict[str, Any] = {}
        for agency_id, secret in sorted(self.secrets.items()):
            secret_file = path.parent / "webhook-secrets" / agency_id
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secret.serialize() + "\n", encoding="utf-8")
            secret_file.chmod(0o600)
            endpoints[agency_id] = {
                "url": f"{base_url}/hooks/{agency_id}",
                "secrets": [f"file:{secret_file}"],
            }
        path.write_text(yaml.safe_dump({"endpoints": endpoints}, sort_keys=True), encoding="utf-8")
        return path

    def _on_webhook(self, agency_id: str, headers: dict[str, str], body: bytes) -> int:
        secret = self.secrets.get(agency_id)
        if secret is None:
            return 404
        try:
            verify(headers, body, [secret])
            sent = json.loads(body)  # the SDK's JSON rendering (homeward_agency.render)
        except Exception:
            with self._lock:
                self.channels[WEBHOOK].refused += 1
            return 400
        data = sent.get("data") or {}
        self._take(
            WEBHOOK,
            agency_id,
            kind=str(sent.get("kind", "")),
            delivery_id=str(sent.get("delivery_id", "")),
            event_id=str((sent.get("meta") or {}).get("id", "")),
            needs_ack="event_type" in data,  # only an AlertDelivery names its inner type
            event=data,
        )
        return 204

    # -- the live stream -------------------------------------------------------
    def start_streams(self) -> None:
        for agency_id, agency in sorted(self.agencies.items()):
            if channel_of(agency) != GATEWAY:
                continue
            t = threading.Thread(
                target=self._stream, args=(agency_id,), name=f"sse-{agency_id}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _stream(self, agency_id: str) -> None:
        """Read the agency's stream; on a dropped connection resume after the last
        event id, as a browser's EventSource does."""
        last: str | None = None
        tokens = self._token(agency_id)
        while not self._stop.is_set():
            headers = {"authorization": f"Bearer {tokens.token()}", "accept": "text/event-stream"}
            if last:
                headers["last-event-id"] = last
            try:
                with self._http.stream(
                    "GET", "/v1/inbox/stream", headers=headers, timeout=httpx.Timeout(10, read=None)
                ) as resp:
                    resp.raise_for_status()
                    event_id, data = None, []
                    for line in resp.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("id:"):
                            event_id = line[3:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].strip())
                        elif line == "" and data:
                            entry = json.loads("\n".join(data))  # the gateway's EntryView
                            self._take(
                                GATEWAY,
                                agency_id,
                                kind=str(entry.get("kind", "")),
                                delivery_id=str(entry.get("delivery_id", "")),
                                event_id=str(entry.get("event_id", "")),
                                needs_ack=bool(entry.get("needs_ack")),
                                event=entry.get("event") or {},
                            )
                            last, data = event_id or last, []
            except (httpx.HTTPError, ValueError):
                if self._stop.is_set():
                    return
                with self._lock:
                    self.channels[GATEWAY].errors += 1
                self._stop.wait(0.5)

    # -- what an agency does with a delivery -----------------------------------
    def _take(
        self,
        channel_name: str,
        agency_id: str,
        *,
        kind: str,
        delivery_id: str,
        event_id: str,
        needs_ack: bool,
        event: dict[str, Any],
    ) -> None:
        channel = self.channels[channel_name]
        # An alert delivery's copy (a resend, a redelivery) keeps its delivery id
        # and gets a new event id; every other record keeps its event id.
        key = (agency_id, delivery_id if needs_ack else f"{kind}:{event_id}")
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
            if not first:
                channel.duplicates += 1
            else:
                channel.deliveries[kind] += 1
                agency_type = channel.agencies.get(agency_id, "?")
                channel.reached.setdefault(agency_type, set()).add(agency_id)
                latency = self._latency_ms(kind, event)
                if latency is not None:
                    channel.latencies_ms.append(latency)
        if not first:
            return
        if needs_ack and agency_id not in self.silent:
            self._agenda.at(
                self.ack_delay(agency_id),
                lambda: self._ack(channel_name, agency_id, delivery_id),
                agency_id,
            )
        if kind == "referral" and self.answer_policy is not None:
            try:
                request = ReferralRequested.model_validate(event)
            except Exception:
                log.warning("%s: a referral the demo cannot read", agency_id, exc_info=True)
                return
            for planned in self.answer_policy(request):
                self._agenda.at(
                    planned.after,
                    lambda p=planned: self._answer(channel_name, agency_id, delivery_id, p),
                    agency_id,
                )

    def _latency_ms(self, kind: str, event: dict[str, Any]) -> float | None:
        """Acceptance to arrival, for what intake's acceptance started: the alert's
        first ring and every update, sighting and cancellation (a widening's
        deliveries come later by design, as in the demo's fan-out figures)."""
        accepted = event.get("accepted_at")
        if not accepted:
            return None
        later = self.initial_ring_km is not None and event.get("ring_km") != self.initial_ring_km
        if kind == "alert" and later:
            return None
        at = datetime.fromisoformat(str(accepted).replace("Z", "+00:00"))
        return time.time() * 1000 - at.timestamp() * 1000

    def _token(self, agency_id: str) -> ClientCredentials:
        """One provider per agency: it keeps its token until near expiry."""
        with self._lock:
            if agency_id not in self._tokens:
                self._tokens[agency_id] = self.token_for(agency_client(agency_id))
            return self._tokens[agency_id]

    def _call(self, channel_name: str, agency_id: str, path: str, body: dict[str, Any]) -> bool:
        tokens = self._token(agency_id)
        # One try: the gateway reads its own writes (a delivery it has POSTed as a
        # webhook is found by the ack and answer routes), so a 404 is a real error.
        try:
            resp: httpx.Response | None = self._http.post(
                path, json=body, headers={"authorization": f"Bearer {tokens.token()}"}
            )
        except httpx.HTTPError:
            resp = None
        if resp is None or resp.status_code >= 400:
            with self._lock:
                self.channels[channel_name].errors += 1
            log.warning(
                "%s %s: %s", agency_id, path, resp.text if resp is not None else "no answer"
            )
            return False
        return True

    def _ack(self, channel_name: str, agency_id: str, delivery_id: str) -> None:
        if self._call(channel_name, agency_id, f"/v1/inbox/{delivery_id}/ack", {}):
            with self._lock:
                self.channels[channel_name].acks += 1

    def _answer(
        self, channel_name: str, agency_id: str, delivery_id: str, planned: PlannedAnswer
    ) -> None:
        body = {"status": str(getattr(planned.status, "value", planned.status))}
        if planned.reason is not None:
            body["reason_code"] = str(getattr(planned.reason, "value", planned.reason))
        if planned.outcome is not None:
            body["outcome"] = str(getattr(planned.outcome, "value", planned.outcome))
        if planned.note:
            body["note"] = planned.note
        if self._call(channel_name, agency_id, f"/v1/referrals/{delivery_id}/answer", body):
            with self._lock:
                self.channels[channel_name].answers += 1

    def pending(self) -> int:
        return self._agenda.pending()

    def figures(self) -> dict[str, Any]:
        with self._lock:
            return {name: ch.figures() for name, ch in self.channels.items()}

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._agenda.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._http.close()
        return self.figures()
