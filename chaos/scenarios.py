"""The scenarios and their pass rules, judged from the topics.

Pass rule of every row (Kafka's replication_test and consumer_test, at the agencies):
- lost 0: every event a front door acknowledged is on its topic, and every delivery
  it owes is at its agency (an alert at every agency in the ring, a rescue's every
  referral offered or escalated, every planted health anomaly raised);
- duplicate side effects 0: no agency has two different deliveries of one event, and
  the SDK subscriber process printed (acted on) no delivery twice;
- recovered: the services' consumer groups back to lag 0, every service alive.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import timedelta

from kafka import KafkaProducer

from chaos.count import Tail, wait_lag_zero
from chaos.load import (
    LAST_SEEN_MINUTES_AGO,
    Accepted,
    HealthBurst,
    IntakeDriver,
    health_burst,
    rescued_person,
)
from chaos.stack import SUBSCRIBER_AGENCY, Stack
from homeward.agencies import AgencyType
from homeward.codec import Codec
from homeward.deadletter import OFFSET, PARTITION, REASON, TOPIC
from homeward.events import (
    AlertDelivery,
    AlertUpdated,
    HealthAnomalyDetected,
    ReferralEscalated,
    ReferralRequested,
)
from homeward_demo.health import found_by
from homeward_demo.scenario import CENTRE
from homeward_fanout.rules import RadiusSchedule, agencies_in_ring
from homeward_health import HealthRecorder
from homeward_health.synthetic import KINDS
from homeward_referrals.rules import load_rules
from homeward_referrals.state import derive_id


@dataclass
class Row:
    scenario: str
    sent: int = 0
    accepted: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    recover_s: float = 0.0
    recovered: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.recovered


HEADER = (
    f"{'scenario':34} {'sent':>6} {'accepted':>8} {'delivered':>9} {'lost':>5} "
    f"{'dup':>4} {'recover s':>9}  pass"
)


def line(row: Row) -> str:
    return (
        f"{row.scenario:34} {row.sent:>6} {row.accepted:>8} {row.delivered:>9} {row.lost:>5} "
        f"{row.duplicates:>4} {row.recover_s:>9.1f}  {'yes' if row.passed else 'NO'}"
    )


class Observer:
    """Everything the judge reads, kept open across scenarios."""

    def __init__(self, stack: Stack) -> None:
        topo = stack.topology
        assert topo is not None
        self.stack = stack
        self.inboxes = [topo.inbox(t).name for t in AgencyType]
        self.alerts = topo.get("alert_events").name
        self.rescues = topo.get("rescues").name
        self.referral_log = topo.get("referral_events").name
        self.anomalies = topo.get("anomalies").name
        self.dead_letters = topo.get("dead_letters").name
        self.health = topo.get("health_records").name
        self.tail = Tail(
            stack.admin,
            [
                *self.inboxes,
                self.alerts,
                self.rescues,
                self.referral_log,
                self.anomalies,
                self.dead_letters,
            ],
        )
        radius = RadiusSchedule().radius_km(LAST_SEEN_MINUTES_AGO / 60)
        self.ring = {
            r.agency.id
            for r in agencies_in_ring(stack.agencies, CENTRE.latitude, CENTRE.longitude, -1, radius)
        }
        self.rules = load_rules()
        # (source event id, agency id) -> delivery ids; raw copies per delivery id
        self.delivered: dict[tuple[str, str], set[str]] = defaultdict(set)
        # (source event id, agency id) -> the rings and the attempts it was delivered at
        self.rings: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.attempts: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.webhook_ring = self.ring & set(stack.webhook_agencies)
        public = {AgencyType.MEDIA, AgencyType.CYBERSPACE}
        self.update_ring = {a.id for a in stack.agencies if a.id in self.ring} - {
            a.id for a in stack.agencies if a.type in public
        }
        # (source event id, agency id) -> webhook-ids the receiver took, and how many
        # requests; read from the receiver's file as it grows
        self.webhooks: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.webhook_posts = 0
        self._webhook_read = 0
        self.copies: Counter[str] = Counter()
        self.on_topic: dict[str, set[str]] = defaultdict(set)  # topic -> ce ids
        self.referrals: dict[str, set[str]] = defaultdict(set)  # referral id -> offer ce ids
        self.offers: dict[str, set[str]] = defaultdict(set)  # referral id -> requested ce ids
        self.anomaly_events: list[tuple[str, HealthAnomalyDetected]] = []  # (ce id, event)
        self.dead: set[tuple[str, int, int]] = set()
        self.dead_reasons: Counter[str] = Counter()
        self.subscriber_seen = 0

    def catch_up(self) -> None:
        for r in self.tail.catch_up():
            if r.topic == self.dead_letters:
                h = dict(r.headers)
                if TOPIC in h and h.get(REASON):
                    self.dead.add((h[TOPIC].decode(), int(h[PARTITION]), int(h[OFFSET])))
                    self.dead_reasons[h[REASON].decode("utf-8", "replace")[:60]] += 1
                continue
            d = r.decoded
            if d is None:
                continue
            self.on_topic[r.topic].add(d.meta.id)
            ev = d.event
            if isinstance(ev, AlertDelivery):
                self.delivered[(ev.source_event_id, ev.agency_id)].add(ev.delivery_id)
                self.rings[(ev.source_event_id, ev.agency_id)].add(ev.ring_km)
                self.attempts[(ev.source_event_id, ev.agency_id)].add(ev.attempt)
                self.copies[d.meta.id] += 1
            elif isinstance(ev, ReferralRequested) or (
                isinstance(ev, ReferralEscalated) and r.topic == self.referral_log
            ):
                self.referrals[ev.referral_id].add(d.meta.id)
                if isinstance(ev, ReferralRequested):
                    self.offers[ev.referral_id].add(d.meta.id)
            elif isinstance(ev, HealthAnomalyDetected):
                self.anomaly_events.append((d.meta.id, ev))
        self._read_webhooks()

    def _read_webhooks(self) -> None:
        """The receiver's new lines (whole ones: it may be writing the last)."""
        path = self.stack.receiver_log
        if not self.stack.webhook_agencies or not path.exists():
            return
        with path.open("rb") as f:
            f.seek(self._webhook_read)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self._webhook_read += end
        for raw in chunk[:end].splitlines():
            taken = json.loads(raw)
            if "id" not in taken:
                continue  # a request that failed verification: not a delivery
            self.webhook_posts += 1
            data = json.loads(taken["body"]).get("data") or {}
            if "source_event_id" in data:  # an alert delivery
                self.webhooks[(data["source_event_id"], data["agency_id"])].add(taken["id"])

    # -- judging -------------------------------------------------------------------------
    def alert_debt(self, accepted: Accepted) -> tuple[int, int, int]:
        """(delivered, missing, duplicate) over the accepted alerts."""
        delivered = missing = dup = 0
        for event_id in accepted.of("alert"):
            for agency in self.ring:
                ids = self.delivered.get((event_id, agency), set())
                delivered += bool(ids)
                missing += not ids
                dup += max(0, len(ids) - 1)
        return delivered, missing, dup

    def update_debt(self, accepted: Accepted) -> tuple[int, int, int]:
        """(delivered, missing, duplicate) over the accepted internal updates: at every
        agency of the ring whose role receives the alert itself (the public channels get
        only what changes the public notice, which these updates do not)."""
        delivered = missing = dup = 0
        for event_id in accepted.of("update"):
            for agency in self.update_ring:
                ids = self.delivered.get((event_id, agency), set())
                delivered += bool(ids)
                missing += not ids
                dup += max(0, len(ids) - 1)
        return delivered, missing, dup

    def webhook_debt(self, accepted: Accepted) -> tuple[int, int, int]:
        """(delivered, missing, duplicate) at the webhook receiver, over the accepted
        alerts and the webhook agencies of the ring: a distinct webhook-id is a delivery,
        one delivery under two webhook-ids a duplicate (the receiver drops only repeats
        of an id)."""
        delivered = missing = dup = 0
        for event_id in accepted.of("alert"):
            for agency in self.webhook_ring:
                ids = self.webhooks.get((event_id, agency), set())
                delivered += bool(ids)
                missing += not ids
                dup += max(0, len(ids) - 1)
        return delivered, missing, dup

    def ring_debt(
        self, accepted: Accepted, agencies: set[str], *, ring_km: int = 0, attempt: int = 1
    ) -> tuple[int, int]:
        """(delivered, missing) over the accepted alerts x `agencies`: a delivery at
        `ring_km` (0: any ring) and at `attempt` or later."""
        delivered = missing = 0
        for event_id in accepted.of("alert"):
            for agency in agencies:
                key = (event_id, agency)
                ok = (not ring_km or ring_km in self.rings.get(key, set())) and any(
                    a >= attempt for a in self.attempts.get(key, set())
                )
                delivered += ok
                missing += not ok
        return delivered, missing

    def referral_debt(self, accepted: Accepted) -> tuple[int, int, int]:
        rules = self.rules.at_rescue(rescued_person())
        delivered = missing = dup = 0
        for event_id in accepted.of("rescue"):
            for rule in rules:
                offers = self.referrals.get(derive_id(event_id, rule.id), set())
                delivered += bool(offers)
                missing += not offers
        return delivered, missing, dup

    def offered_twice(self, accepted: Accepted) -> int:
        """Referrals of these rescues first offered under more than one event id: one
        rescue decided twice (two workers, or a worker deciding from stale state)."""
        rules = self.rules.at_rescue(rescued_person())
        return sum(
            max(0, len(self.offers.get(derive_id(e, rule.id), set())) - 1)
            for e in accepted.of("rescue")
            for rule in rules
        )

    def not_on_bus(self, accepted: Accepted) -> int:
        topic_of = {"alert": self.alerts, "update": self.alerts, "rescue": self.rescues}
        return sum(
            1 for e, (kind, _) in accepted.events.items() if e not in self.on_topic[topic_of[kind]]
        )

    def anomaly_debt(self, burst: HealthBurst) -> tuple[int, int, int]:
        found = sum(1 for g in burst.planted if any(found_by(g, a) for _, a in self.anomaly_events))
        # The same anomaly raised under two ids would be two police investigations.
        ids_by_proof: dict[tuple[str, str], set[str]] = defaultdict(set)
        for ce_id, a in self.anomaly_events:
            ids_by_proof[(a.rule.value, ",".join(sorted(a.evidence)))].add(ce_id)
        dup = sum(len(ids) - 1 for ids in ids_by_proof.values())
        return found, len(burst.planted) - found, dup

    def subscriber_duplicates(self) -> tuple[int, int]:
        """(deliveries printed, printed twice) by the SDK subscriber process, over its life."""
        svc = self.stack.services["subscriber"]
        keys: Counter[tuple[str, str]] = Counter()
        text = svc.log_path.read_text(encoding="utf-8", errors="replace")
        for ln in text.splitlines():
            if not ln.startswith("{"):
                continue
            try:
                obj = json.loads(ln)
            except ValueError:
                continue
            keys[(obj.get("kind", ""), obj.get("delivery_id") or obj["meta"]["id"])] += 1
        return len(keys), sum(n - 1 for n in keys.values())

    def close(self) -> None:
        self.tail.close()


def groups_of(obs: Observer, which: tuple[str, ...]) -> dict[str, list[str]]:
    """Consumer group -> the input topics whose lag must come back to 0."""
    topo = obs.stack.topology
    assert topo is not None
    every = {
        "fanout": ("homeward-fanout", [obs.alerts]),
        "referrals": ("homeward-referrals", [obs.rescues]),
        "detector": ("homeward-detector", [obs.health]),
        "subscriber": (f"homeward-agency-{SUBSCRIBER_AGENCY}", [topo.inbox("police").name]),
        "gateway": ("homeward-gateway-webhooks", obs.inboxes),
    }
    # The gateway's dispatcher only in a stack that runs the gateway.
    return dict(every[w] for w in which if w in obs.stack.specs)


ALL_GROUPS = ("fanout", "referrals", "detector", "subscriber", "gateway")


def settle(
    obs: Observer,
    row: Row,
    accepted: Accepted | None,
    health: HealthBurst | None,
    t_fault: float,
    *,
    timeout: float,
    groups: tuple[str, ...] = ALL_GROUPS,
    extra: Callable[[], tuple[int, int]] | None = None,
) -> None:
    """Wait until every debt is paid (or `timeout`), then fill the row's figures;
    `extra()`: a row's own (delivered, missing) on top of the usual debts."""
    deadline = time.monotonic() + timeout
    while True:
        obs.catch_up()
        delivered = lost = dup = 0
        if accepted is not None:
            a = obs.alert_debt(accepted)
            r = obs.referral_debt(accepted)
            u = obs.update_debt(accepted)
            w = obs.webhook_debt(accepted)
            lost = a[1] + u[1] + r[1] + w[1] + obs.not_on_bus(accepted)
            delivered, dup = a[0] + u[0] + r[0] + w[0], a[2] + u[2] + r[2] + w[2]
        if extra is not None:
            x = extra()
            delivered, lost = delivered + x[0], lost + x[1]
        if health is not None:
            h = obs.anomaly_debt(health)
            delivered, lost, dup = delivered + h[0], lost + h[1], dup + h[2]
        if lost == 0 or time.monotonic() > deadline:
            if lost:
                row.notes.append(f"still owed after {timeout:.0f} s: {lost}")
            break
        time.sleep(0.5)  # the services are still working; re-read the topics
    try:
        wait_lag_zero(
            obs.stack.admin,
            groups_of(obs, groups),
            timeout=max(10.0, deadline - time.monotonic()),
        )
        row.recovered = all(obs.stack.alive().values())
        if not row.recovered:
            row.notes.append(f"dead: {[n for n, up in obs.stack.alive().items() if not up]}")
    except TimeoutError as exc:
        row.notes.append(str(exc))
    row.recover_s = time.monotonic() - t_fault
    printed, twice = obs.subscriber_duplicates()
    row.delivered, row.lost, row.duplicates = delivered, lost, dup + twice
    if accepted is not None and accepted.refused:
        row.notes.append(f"{accepted.refused} refused, e.g. {accepted.refusals[0]}")
    if twice:
        row.notes.append(f"subscriber printed {twice} of {printed} deliveries twice")


def _fault_at(
    stack: Stack, n: int, fault: Callable[[], None]
) -> tuple[Callable[[int], None], list[float], list[Future[None]]]:
    """A `during` hook that runs `fault` once, on the stack's fault thread, at step n."""
    at: list[float] = []
    done: list[Future[None]] = []

    def during(i: int) -> None:
        if i == n and not at:
            at.append(time.monotonic())
            done.append(stack.faults.submit(fault))

    return during, at, done


# -- scenarios -------------------------------------------------------------------------------
@dataclass
class Settings:
    alerts: int = 60
    rescue_every: int = 10
    births: int = 20
    leader_kills: int = 1
    settle_seconds: float = 180
    poison_every: int = 20  # alerts per poison record on each consumed topic (99: 1%)
    rebalance: bool = False  # the rebalance rows (chaos/rebalance.py) without --only
    timer_kills: bool = False  # the fan-out timer rows (TIMER_KILLS) without --only
    # The leader row's own burst (None: alerts, births as above) and the internal
    # updates after each of its alerts.
    leader_alerts: int | None = None
    leader_births: int | None = None
    updates: int = 0

    def leader_burst(self) -> int:
        """Events the leader row sends: alerts, updates, rescues, health records."""
        alerts = self.leader_alerts or self.alerts
        births = self.leader_births or self.births
        # health_burst: 4 records a birth, 16 in its 5 planted anomalies
        rescues = len(range(0, alerts, self.rescue_every)) if self.rescue_every else 0
        return alerts * (1 + self.updates) + rescues + 4 * births + 16


def leader_kill(stack: Stack, obs: Observer, s: Settings, tag: str = "LDR") -> Row:
    """The broker leading alerts.events.v1[0] SIGKILLed s.leader_kills times during one
    burst. The alerts go in s.leader_kills + 1 waves, each kill struck as a wave ends so
    the next wave's requests meet it; the health records pause at matching points until
    the kill is struck, so every kill lands with both doors busy."""
    n = s.leader_kills
    row = Row(f"leader SIGKILL x{n}")
    accepted = Accepted()
    kills: list[str] = []
    at: list[float] = []
    go = [threading.Event() for _ in range(n)]
    struck = [threading.Event() for _ in range(n)]
    wait = s.settle_seconds  # bounds a wait for the other side, should it have failed

    def fault() -> None:
        for k in range(n):
            if not go[k].wait(wait):
                kills.append(f"kill {k + 1} never due")
                return
            at.append(time.monotonic())
            struck[k].set()  # the SIGKILL follows within milliseconds
            node, back = stack.kill_leader(obs.alerts, 0)
            kills.append(f"node {node} back in {back:.1f} s")

    alerts, births = s.leader_alerts or s.alerts, s.leader_births or s.births
    groups = births + len(KINDS)
    pauses = {(k + 1) * groups // (n + 1): k for k in range(n)}

    def health_during(i: int) -> None:
        if i in pauses:
            struck[pauses[i]].wait(wait)

    faults = stack.faults.submit(fault)
    driver = IntakeDriver(stack.intake_url, stack.identities.police())
    recorder = HealthRecorder(stack.settings("health"), topology=stack.topology)
    burst_health: list[HealthBurst] = []
    failed: list[BaseException] = []

    def health() -> None:
        try:
            burst_health.append(health_burst(recorder, tag, births, during=health_during))
        except BaseException as exc:  # handed to the row below, not lost with the thread
            failed.append(exc)

    t = threading.Thread(target=health, daemon=True)
    t.start()
    for w in range(n + 1):
        size = alerts * (w + 1) // (n + 1) - alerts * w // (n + 1)
        driver.burst(accepted, f"{tag}{w}", size, rescue_every=s.rescue_every, updates=s.updates)
        if w < n:
            go[w].set()
    t.join()
    burst_end = time.monotonic()
    recorder.close()
    faults.result()
    if failed:
        raise RuntimeError(f"the hospital burst failed: {failed[0]!r}") from failed[0]
    if burst_health[0].retried:
        row.notes.append(
            f"hospital groups retried after RecordUnavailable: {burst_health[0].retried}"
        )
    row.sent = accepted.sent + burst_health[0].sent
    row.accepted = len(accepted.events) + burst_health[0].sent
    settle(
        obs,
        row,
        accepted,
        burst_health[0],
        at[0] if at else time.monotonic(),
        timeout=s.settle_seconds,
    )
    during = sum(1 for x in at if x < burst_end)
    row.notes.append(f"{during} of {n} kills during the burst")
    row.notes += kills
    return row


def service_kill(stack: Stack, obs: Observer, s: Settings, name: str) -> Row:
    """`name` SIGKILLed mid-burst and started again."""
    tag = f"K{name[:3].upper()}"
    row = Row(f"{name} SIGKILL + restart")
    accepted = Accepted()
    restarted: list[float] = []

    def fault() -> None:
        restarted.append(stack.restart(name))

    step = max(1, s.alerts // 3)
    during, at, _faults = _fault_at(stack, step, fault)
    driver = IntakeDriver(stack.intake_url, stack.identities.police())
    health: HealthBurst | None = None
    if name == "detector":
        recorder = HealthRecorder(stack.settings("health"), topology=stack.topology)
        try:
            health = health_burst(recorder, tag, s.births, during=during)
        finally:
            recorder.close()
        for f in _faults:
            f.result()
        row.sent = row.accepted = health.sent
        settle(
            obs,
            row,
            None,
            health,
            at[0] if at else time.monotonic(),
            timeout=s.settle_seconds,
            groups=("detector",),
        )
    else:
        driver.burst(accepted, tag, s.alerts, rescue_every=s.rescue_every, during=during)
        for f in _faults:
            f.result()  # restarted (or its error) before the judging starts
        row.sent, row.accepted = accepted.sent, len(accepted.events)
        settle(
            obs, row, accepted, None, at[0] if at else time.monotonic(), timeout=s.settle_seconds
        )
    if restarted:
        row.notes.append(f"ready again in {restarted[0]:.1f} s")
    return row


#: The fan-out's timer rows: how long after each alert is posted its timer action
#: falls due (a widening: last seen this long short of the first ring's hour; a
#: resend: the acknowledgement timeout the fan-out runs with for the row).
TIMER_LEAD = timedelta(seconds=20)
#: The acknowledgement timeout outside the resend row: no resend falls due.
ACK_TIMEOUT_SECONDS = "3600"


def _set_ack_timeout(stack: Stack, seconds: str) -> None:
    spec = stack.specs["fanout"]
    stack.specs["fanout"] = replace(
        spec, env={**spec.env, "HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS": seconds}
    )


def fanout_timer_kill(stack: Stack, obs: Observer, s: Settings, action: str) -> Row:
    """The fan-out SIGKILLed while its timer is widening rings ("widening") or resending
    unacknowledged deliveries ("resend"), and started again. The kill is timed from the
    inbox topics: it lands at the first widened (ring 2) or resent (attempt 2) delivery
    of the row's alerts; the row owes every such delivery besides the usual debts."""
    tag = "KWID" if action == "widening" else "KRES"
    row = Row(f"fanout SIGKILL during a {action}")
    accepted = Accepted()
    first, radius = RadiusSchedule().radius_km(0), RadiusSchedule().radius_km(1.01)
    if action == "widening":
        ago = timedelta(hours=1) - TIMER_LEAD
        # The agencies the widening reaches: those of the first ring have theirs.
        owed = {
            r.agency.id
            for r in agencies_in_ring(
                stack.agencies, CENTRE.latitude, CENTRE.longitude, first, radius
            )
        }
        extra = lambda: obs.ring_debt(accepted, owed, ring_km=radius)  # noqa: E731
        alerts_ring = owed
    else:
        ago = None
        # The SDK subscriber acknowledges its deliveries; no other agency of the ring
        # does (the gateway's and the webhook agencies' systems are not played here).
        owed = obs.ring - {SUBSCRIBER_AGENCY}
        extra = lambda: obs.ring_debt(accepted, owed, attempt=2)  # noqa: E731
        alerts_ring = obs.ring
        # A clean restart (not the fault) to run the row with a short timeout.
        _set_ack_timeout(stack, str(int(TIMER_LEAD.total_seconds())))
        stack.services["fanout"].stop(timeout=60)
        stack.launch("fanout")
    driver = IntakeDriver(stack.intake_url, stack.identities.police())
    burst = threading.Thread(
        target=lambda: driver.burst(
            accepted, tag, s.alerts, rescue_every=s.rescue_every, last_seen_ago=ago
        ),
        name="chaos-burst",
        daemon=True,
    )
    burst.start()
    restarted: list[float] = []

    def fault() -> None:
        if action == "resend":
            # The resends owed were scheduled when the deliveries were first sent;
            # the restarted worker schedules no new ones within the run.
            _set_ack_timeout(stack, ACK_TIMEOUT_SECONDS)
        restarted.append(stack.restart("fanout"))

    def started() -> int:
        """The row's widened or resent deliveries on the inboxes so far."""
        with accepted.lock:
            mine = list(accepted.of("alert"))
        keys = [(e, a) for e in mine for a in alerts_ring]
        if action == "widening":
            return sum(radius in obs.rings.get(k, ()) for k in keys)
        return sum(any(n >= 2 for n in obs.attempts.get(k, ())) for k in keys)

    deadline = time.monotonic() + s.settle_seconds
    seen = 0
    while time.monotonic() < deadline:
        obs.catch_up()
        seen = started()
        if seen:
            break
        time.sleep(0.2)  # re-read the inbox topics; the timer has not acted yet
    t_fault = time.monotonic()
    killed = stack.faults.submit(fault) if seen else None
    burst.join()
    if killed is not None:
        killed.result()
        row.notes.append(
            f"killed at the {seen}th {action} delivery; ready again in {restarted[0]:.1f} s"
        )
    else:
        row.notes.append(f"no {action} delivery seen in {s.settle_seconds:.0f} s: not killed")
    row.sent, row.accepted = accepted.sent, len(accepted.events)
    settle(
        obs,
        row,
        accepted,
        None,
        t_fault,
        timeout=s.settle_seconds,
        groups=("fanout", "subscriber"),
        extra=extra,
    )
    if killed is None:
        row.recovered = False
    owed_now = extra()
    row.notes.append(f"{action} deliveries: {owed_now[0]} of {sum(owed_now)}")
    return row


def poison_storm(stack: Stack, obs: Observer, s: Settings, tag: str = "PSN") -> Row:
    """1% corrupt records mixed into a burst on every consumed topic."""
    row = Row(f"poison storm 1 in {s.poison_every + 1}")
    pids = stack.pids()
    accepted = Accepted()
    producer = KafkaProducer(acks="all", **stack.admin.kafka_python())
    planted: list[tuple[str, int, int]] = []
    rng = random.Random(1234)
    codec = Codec()
    inbox_police = stack.topology.inbox("police").name  # type: ignore[union-attr]
    targets = [obs.alerts, obs.rescues, obs.health, inbox_police]

    def poison(kind: int) -> tuple[bytes, list[tuple[str, bytes]]]:
        good, _ = codec.encode(
            AlertUpdated(case_id=f"POL-0001-CHAOS-{tag}-X", new_information="poison"),
            key="x",
            source="/chaos/poison",
        )
        if kind == 0:
            return os.urandom(rng.randint(1, 400)), list(good.headers)
        if kind == 1:  # unknown schema fingerprint
            return b"\xc3\x01" + os.urandom(8) + good.value[10:], list(good.headers)
        if kind == 2:  # truncated
            return good.value[: max(1, len(good.value) // 2)], list(good.headers)
        if kind == 3:  # oversized for its schema
            return good.value + os.urandom(200_000), list(good.headers)
        # schema-valid, rule-breaking: an update of a case nobody issued, on every topic
        return good.value, list(good.headers)

    def during(i: int) -> None:
        # One poison record on each target topic per `poison_every` alerts accepted: on
        # the alert topic that is 1 in poison_every + 1; the inboxes and the rescue and
        # health topics carry fewer poison records per valid one.
        if i % s.poison_every == 0:
            for topic in targets:
                value, headers = poison(len(planted) % 5)
                key = SUBSCRIBER_AGENCY.encode() if topic == inbox_police else b"poison"
                md = producer.send(topic, key=key, value=value, headers=headers).get(30)
                planted.append((md.topic, md.partition, md.offset))

    driver = IntakeDriver(stack.intake_url, stack.identities.police())
    driver.burst(accepted, tag, s.alerts, rescue_every=s.rescue_every, during=during)
    producer.close()
    row.sent = accepted.sent + len(planted)
    row.accepted = len(accepted.events)
    t0 = time.monotonic()
    settle(obs, row, accepted, None, t0, timeout=s.settle_seconds)
    deadline = time.monotonic() + 60
    while not set(planted) <= obs.dead and time.monotonic() < deadline:
        obs.catch_up()
        time.sleep(0.5)  # dead letters are being written; re-read
    missing = set(planted) - obs.dead
    row.lost += len(missing)
    same = stack.pids() == pids and all(stack.alive().values())
    row.recovered = row.recovered and same
    row.notes.append(
        f"{len(planted) - len(missing)}/{len(planted)} poison records dead-lettered"
        + ("" if same else "; a service restarted or died")
    )
    return row


# The referral router last: a kill of it can leave its group stuck (docs/faults.md), which
# would fail every later row's lag rule too.
SERVICE_KILLS = ("fanout", "detector", "intake", "subscriber", "gateway", "referrals")
#: The fan-out killed during its timer's work (fanout_timer_kill).
TIMER_KILLS = ("fanout-widening", "fanout-resend")
# Whose lag each kill's row judges (the leader kill and the poison storm: everyone's).
KILL_GROUPS = {
    "fanout": ("fanout", "subscriber"),
    "intake": ("fanout", "referrals", "subscriber"),
    "subscriber": ("fanout", "subscriber"),
    "referrals": ("referrals",),
}


def run(
    stack: Stack, s: Settings, only: list[str] | None, say: Callable[[str], None] = print
) -> list[Row]:
    obs = Observer(stack)
    kills = [
        (n, (lambda n=n: service_kill(stack, obs, s, n)))
        for n in SERVICE_KILLS
        if n in stack.specs  # the gateway only in a stack that runs it
    ]
    timers = [
        (k, (lambda k=k: fanout_timer_kill(stack, obs, s, k.split("-")[1])))
        for k in TIMER_KILLS
        if s.timer_kills or (only and k in only)
    ]
    plan: list[tuple[str, Callable[[], Row]]] = [
        ("leader", lambda: leader_kill(stack, obs, s)),
        *kills[:1],
        *timers,
        *kills[1:-1],
        ("poison", lambda: poison_storm(stack, obs, s)),
        kills[-1],
    ]
    from chaos.rebalance import scenarios as rebalances  # it imports this module

    # Before the router's kill, for the same reason as the kill's place; not in the
    # CI short run (each row is a minute or more of joins and leaves).
    plan[-1:-1] = [
        (k, f) for k, f in rebalances(stack, obs, s) if s.rebalance or (only and k in only)
    ]
    rows = []
    try:
        for key, scenario in plan:
            if only and key not in only:
                continue
            t0 = time.monotonic()
            row = scenario()
            rows.append(row)
            say(f"{line(row)}   ({time.monotonic() - t0:.0f} s) {'; '.join(row.notes)}")
    finally:
        obs.close()
    return rows
