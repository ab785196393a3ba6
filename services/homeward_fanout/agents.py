"""Thin Faust loops: every decision is in planner.py, every side effect in
processor.py."""

from __future__ import annotations

import logging
from typing import Any

from homeward.faust_app import CommitGuard, producer_send
from homeward.faust_probes import instrument
from homeward.ownership import Ownership, attach
from homeward.probes import print_line
from homeward.processing import message_headers
from homeward_fanout.app import (
    app,
    cases,
    directory,
    kafka,
    policy,
    settings,
    source,
    ticks,
    topology,
)
from homeward_fanout.processor import FanoutProcessor

log = logging.getLogger("homeward.fanout")


_send = producer_send(app)
# A stop (SIGTERM) in the middle of a record must not commit it unhandled.
commits = CommitGuard(app)
# Up before the worker starts, so /healthz answers while it joins and recovers.
instrumented = instrument(
    app,
    service="fanout",
    port=settings.metrics_port,
    kafka=kafka,
    topics=source.topics,
    setting="HOMEWARD_FANOUT_METRICS_PORT",
)


_alerts = topology.get("alert_events")
ownership = Ownership()
processor = FanoutProcessor(
    owns=ownership.owner_of(_alerts.name, _alerts.partitions),
    topology=topology,
    agencies=directory,
    policy=policy,
    table=cases,
    send=_send,
    source=settings.source,
    state_part_bytes=settings.state_part_bytes,
)
# The table also holds standby copies and what rebalances took away: the timer
# ticks only the cases this worker owns, and re-reads wake-ups after each rebalance.
attach(app, ownership, [cases], on_change=processor.forget)
if instrumented is not None:
    # A record the broker refuses for good is parked; readiness says so (homeward.processing).
    instrumented.probes.add_readiness("emit", processor.emitter.not_ready)


# Records are handled in batches so the broker's acknowledgement of their
# output is waited for once per batch, not once per record. A batch is what
# arrived while the last one was handled plus what comes within the window.
# A lone alert waits out the window, so it is shorter than the detector's
# 50 ms (most of a 100-agency alert's time); the price is the idle loop's
# wake-ups: about 3% of a core idle at 10 ms, 1% at 50 ms (measured).
BATCH_MAX = 500
BATCH_WITHIN_SECONDS = 0.01


@app.agent(source)
async def fan_out_alerts(stream: Any) -> None:
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
        batch = [
            (m.topic, m.partition, m.offset, m.key, m.value, message_headers(m.headers))
            for m in (e.message for e in events)
        ]
        with commits.carrying_out():
            await processor.process_batch(batch)


@app.timer(interval=settings.tick_interval_seconds)
async def wake_due_cases() -> None:
    # Timers cannot write tables (no partition context), so they only send a
    # tick keyed by case id; the agent that owns the case does the work.
    for case_id in processor.due_ticks():
        try:
            await ticks.send(key=case_id.encode(), value=b"")
        except Exception:
            # A timer that raises stops for good; the next round tries again.
            log.exception("could not send a tick for case %s", case_id)
            return


@app.task
async def on_start() -> None:
    log.info("fan-out started: %d agencies, policy %s", len(directory), policy)
    print_line("FANOUT_READY")
