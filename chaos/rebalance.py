"""Rebalances under load (issue 12): a second and a third worker of a stream
processor join its consumer group mid-burst, then one leaves by SIGTERM and one
by SIGKILL, while the burst goes on. Same pass rule as every row: every debt
paid (each alert at every agency in its ring, each rescue's referrals, each
planted anomaly), no agency with two deliveries of one event, no referral
offered under two ids, lag back to 0."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from chaos.load import Accepted, HealthBurst, IntakeDriver, health_burst
from chaos.scenarios import Observer, Row, Settings, settle
from chaos.stack import Stack
from homeward.kafka import end_offsets
from homeward.ownership import key_partition
from homeward_health import HealthRecorder

#: Service -> the consumer groups its row judges, as in chaos.scenarios.groups_of.
GROUPS = {
    "fanout": ("fanout", "subscriber"),
    "referrals": ("fanout", "referrals", "subscriber"),
    "detector": ("detector",),
}
#: Each service's clock-tick topic: what its timers wrote during the row, a tick
#: storm if a worker ticks cases it does not own (homeward.ownership).
TICKS = {"fanout": "fanout_ticks", "referrals": "referral_ticks", "detector": "health_ticks"}
#: Bursts go on in waves until the whole join/leave sequence is done, so every
#: rebalance happens with records in flight; a wave cap bounds a run that hangs.
MAX_WAVES = 40


def _sequence(stack: Stack, name: str, log: list[str]) -> Callable[[], None]:
    def run() -> None:
        t0 = time.monotonic()
        second = stack.add_worker(name)
        log.append(f"+{second} {time.monotonic() - t0:.0f}s")
        third = stack.add_worker(name)
        log.append(f"+{third} {time.monotonic() - t0:.0f}s")
        stack.retire(third)  # SIGTERM: leaves the group, commits what it handled
        log.append(f"-{third} TERM {time.monotonic() - t0:.0f}s")
        stack.retire(second, kill=True)  # SIGKILL: its partitions wait out the session
        log.append(f"-{second} KILL {time.monotonic() - t0:.0f}s")

    return run


def ticks_written(stack: Stack, name: str) -> int:
    """Records on `name`'s tick topic so far (its end offsets, summed)."""
    assert stack.topology is not None
    topic = stack.topology.get(TICKS[name]).name
    consumer = KafkaConsumer(group_id=None, **stack.admin.kafka_python())
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return int(sum(end_offsets(consumer, parts).values()))
    finally:
        consumer.close()


def owed_alerts(stack: Stack, obs: Observer, accepted: Accepted) -> str:
    """The alerts still owed, each with its partition and how many agencies have it."""
    assert stack.topology is not None
    partitions = stack.topology.get("alert_events").partitions
    owed = []
    for event_id, case in sorted(accepted.of("alert").items(), key=lambda e: e[1]):
        have = sum(1 for a in obs.ring if obs.delivered.get((event_id, a)))
        if have < len(obs.ring):
            p = key_partition(case.encode(), partitions)
            owed.append(f"{case.rsplit('-', 2)[-2:]}[p{p}] {have}/{len(obs.ring)}")
    return f"owed alerts: {len(owed)}: " + ", ".join(owed[:12])


def rebalance(stack: Stack, obs: Observer, s: Settings, name: str) -> Row:
    """Workers of `name` 1 -> 2 -> 3 -> 2 (SIGTERM) -> 1 (SIGKILL) during a burst."""
    tag = f"R{name[:3].upper()}"
    row = Row(f"{name} rebalance 1>2>3>2>1")
    log: list[str] = []
    ticks0 = ticks_written(stack, name)
    t_fault = time.monotonic()
    done = stack.faults.submit(_sequence(stack, name, log))
    waves = 0
    if name == "detector":
        burst = HealthBurst()
        recorder = HealthRecorder(stack.settings("health"), topology=stack.topology)
        try:
            while (not done.done() or waves == 0) and waves < MAX_WAVES:
                b = health_burst(recorder, f"{tag}{waves:02d}", max(4, s.births // 4))
                burst.planted += b.planted
                burst.record_ids |= b.record_ids
                burst.sent += b.sent
                waves += 1
        finally:
            recorder.close()
        done.result()
        row.sent = row.accepted = burst.sent
        settle(obs, row, None, burst, t_fault, timeout=s.settle_seconds, groups=GROUPS[name])
    else:
        accepted = Accepted()
        driver = IntakeDriver(stack.intake_url, stack.identities.police())
        every = 2 if name == "referrals" else s.rescue_every
        while (not done.done() or waves == 0) and waves < MAX_WAVES:
            driver.burst(accepted, f"{tag}{waves:02d}", max(4, s.alerts // 4), rescue_every=every)
            waves += 1
        done.result()
        row.sent, row.accepted = accepted.sent, len(accepted.events)
        settle(obs, row, accepted, None, t_fault, timeout=s.settle_seconds, groups=GROUPS[name])
        if row.lost:
            row.notes.append(owed_alerts(stack, obs, accepted))
        twice = obs.offered_twice(accepted)
        if twice:
            row.duplicates += twice
            row.notes.append(f"{twice} referrals offered under two ids")
    row.notes.append(
        f"{waves} waves; " + ", ".join(log) + f"; {ticks_written(stack, name) - ticks0} ticks"
    )
    return row


def scenarios(stack: Stack, obs: Observer, s: Settings) -> list[tuple[str, Callable[[], Row]]]:
    return [
        (f"rebalance-{n}", (lambda n=n: rebalance(stack, obs, s, n)))  # type: ignore[misc]
        for n in ("fanout", "detector", "referrals")
    ]
