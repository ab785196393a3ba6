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
from dataclasses import dataclass, field

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
                self.copies[d.meta.id] += 1
            elif isinstance(ev, ReferralRequested) or (
                isinstance(ev, ReferralEscalated) and r.topic == self.referral_log
            ):
                self.referrals[ev.referral_id].add(d.meta.id)
                if isinstance(ev, ReferralRequested):
                    self.offers[ev.referral_id].add(d.meta.id)
            elif isinstance(ev, HealthAnomalyDetected):
                self.anomaly_events.append((d.meta.id, ev))

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

    def referral_debt(self, accepted: Accepted) -> tuple[int, int, int]:
        rules = self.rules.matching(rescued_person())
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
        rules = self.rules.matching(rescued_person())
        return sum(
            max(0, len(self.offers.get(derive_id(e, rule.id), set())) - 1)
            for e in accepted.of("rescue")
            for rule in rules
        )

    def not_on_bus(self, accepted: Accepted) -> int:
        topic_of = {"alert": self.alerts, "rescue": self.rescues}
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
    }
    return dict(every[w] for w in which)


ALL_GROUPS = ("fanout", "referrals", "detector", "subscriber")


def settle(
    obs: Observer,
    row: Row,
    accepted: Accepted | None,
    health: HealthBurst | None,
    t_fault: float,
    *,
    timeout: float,
    groups: tuple[str, ...] = ALL_GROUPS,
) -> None:
    """Wait until every debt is paid (or `timeout`), then fill the row's figures."""
    deadline = time.monotonic() + timeout
    while True:
        obs.catch_up()
        delivered = lost = dup = 0
        if accepted is not None:
            a = obs.alert_debt(accepted)
            r = obs.referral_debt(accepted)
            lost = a[1] + r[1] + obs.not_on_bus(accepted)
            delivered, dup = a[0] + r[0], a[2] + r[2]
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


def leader_kill(stack: Stack, obs: Observer, s: Settings, tag: str = "LDR") -> Row:
    """The broker leading alerts.events.v1[0] SIGKILLed mid-burst (s.leader_kills times)."""
    row = Row(f"leader SIGKILL x{s.leader_kills}")
    accepted = Accepted()
    kills: list[str] = []

    def fault() -> None:
        for _ in range(s.leader_kills):
            node, back = stack.kill_leader(obs.alerts, 0)
            kills.append(f"node {node} back in {back:.1f} s")

    step = max(1, s.alerts // 4)
    during, at, _faults = _fault_at(stack, step, fault)
    driver = IntakeDriver(stack.intake_url, stack.identities.police())
    recorder = HealthRecorder(stack.settings("health"), topology=stack.topology)
    burst_health: list[HealthBurst] = []
    t = threading.Thread(
        target=lambda: burst_health.append(health_burst(recorder, tag, s.births)), daemon=True
    )
    t.start()
    driver.burst(accepted, tag, s.alerts, rescue_every=s.rescue_every, during=during)
    t.join()
    recorder.close()
    for f in _faults:
        f.result()
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
SERVICE_KILLS = ("fanout", "detector", "intake", "subscriber", "referrals")
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
    kills = [(n, (lambda n=n: service_kill(stack, obs, s, n))) for n in SERVICE_KILLS]
    plan: list[tuple[str, Callable[[], Row]]] = [
        ("leader", lambda: leader_kill(stack, obs, s)),
        *kills[:-1],
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
