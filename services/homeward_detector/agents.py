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
from homeward_detector.app import (
    app,
    index,
    kafka,
    persons,
    settings,
    source,
    topology,
    windows,
)
from homeward_detector.processor import DetectorProcessor, Side

log = logging.getLogger("homeward.detector")


_send = producer_send(app)
# A stop (SIGTERM) in the middle of a record must not commit it unhandled.
commits = CommitGuard(app)
# Up before the worker starts, so /healthz answers while it joins and recovers.
instrumented = instrument(
    app,
    service="detector",
    port=settings.metrics_port,
    kafka=kafka,
    topics=sorted(source.topics),
    setting="HOMEWARD_DETECTOR_METRICS_PORT",
)


_sides = {"person": topology.get("health_records"), "index": topology.get("health_index")}
ownership = Ownership()
# Keys are the record keys as they are (use_partitioner=True): murmur2 of the whole key.
_owners = {side: ownership.owner_of(t.name, t.partitions, sep=None) for side, t in _sides.items()}
processor = DetectorProcessor(
    owns=lambda side, key: _owners[side](key),
    topology=topology,
    windows=windows,
    persons=persons,
    index=index,
    send=_send,
    source=settings.source,
)
# The tables also hold standby copies and what rebalances took away: the timer
# schedules only the keys this worker owns, read again after each rebalance.
attach(app, ownership, [persons, index], on_change=processor.forget, sep=None)
if instrumented is not None:
    # A record the broker refuses for good is parked; readiness says so (homeward.processing).
    instrumented.probes.add_readiness("emit", processor.emitter.not_ready)


# Records are handled in batches so the broker's acknowledgement of their
# output is waited for once per batch, not once per record.
BATCH_MAX = 500
BATCH_WITHIN_SECONDS = 0.05


@app.agent(source)
async def detect(stream: Any) -> None:
    async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_SECONDS):
        # Each view's records in their order; the two views share no state.
        batches: dict[Side, list[Any]] = {"person": [], "index": []}
        for m in (e.message for e in events):
            batches[processor.side_of(m.topic, m.key)].append(
                (m.topic, m.partition, m.offset, m.key, m.value, message_headers(m.headers))
            )
        with commits.carrying_out():
            for side, batch in batches.items():
                if batch:
                    await processor.process_batch(side, batch)


@app.timer(interval=settings.tick_interval_seconds)
async def wake_due_keys() -> None:
    # Timers cannot write tables (no partition context), so they only send a
    # ClockTick keyed like the state; the agent that owns the key does the work.
    for key in processor.due_ticks():
        try:
            tick = processor.tick(key)
            await _send(processor.ticks_topic, tick.key, tick.value, tick.headers)
        except Exception:
            # A timer that raises stops for good; the next round tries again.
            log.exception("could not send a tick")
            return


@app.task
async def on_start() -> None:
    log.info(
        "detector started: certificate window %s, lateness %s, rule 5 %s",
        windows.certificate,
        windows.lateness,
        "on" if windows.uncertified_enabled else "off",
    )
    print_line("DETECTOR_READY")
