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
from homeward_referrals.app import (
    app,
    cases,
    directory,
    kafka,
    reports,
    router,
    settings,
    source,
    tips,
    topology,
)
from homeward_referrals.processor import ReferralProcessor

log = logging.getLogger("homeward.referrals")


_send = producer_send(app)
# A stop (SIGTERM) in the middle of a record must not commit it unhandled.
commits = CommitGuard(app)
# Up before the worker starts, so /healthz answers while it joins and recovers.
instrumented = instrument(
    app,
    service="referrals",
    port=settings.metrics_port,
    kafka=kafka,
    topics=source.topics,
    setting="HOMEWARD_REFERRALS_METRICS_PORT",
)


_rescues = topology.get("rescues")
ownership = Ownership()
processor = ReferralProcessor(
    owns=ownership.owner_of(_rescues.name, _rescues.partitions),
    topology=topology,
    router=router,
    cases=cases,
    reports=reports,
    tips=tips,
    send=_send,
    source=settings.source,
)
# The tables also hold standby copies and what rebalances took away: the timers
# tick and count only the cases this worker owns (a case on two workers was counted
# twice by the open-referral gauge), and re-read what they derived after each rebalance.
attach(app, ownership, [cases, reports, tips], on_change=processor.forget)
if instrumented is not None:
    # A record the broker refuses for good is parked; readiness says so (homeward.processing).
    instrumented.probes.add_readiness("emit", processor.emitter.not_ready)


@app.agent(source)
async def route_referrals(stream: Any) -> None:
    async for event in stream.events():
        m = event.message
        headers = message_headers(m.headers)
        with commits.carrying_out():
            await processor.process(m.topic, m.partition, m.offset, m.key, m.value, headers)


@app.timer(interval=settings.tick_interval_seconds)
async def wake_due_deadlines() -> None:
    # Timers cannot write tables (no partition context), so they only send a
    # ClockTick keyed by case (or report) id; the agent that owns it does the work.
    for case_id in processor.due_ticks():
        try:
            tick = processor.tick(case_id)
            await _send(processor.ticks_topic, tick.key, tick.value, tick.headers)
        except Exception:
            # A timer that raises stops for good; the next round tries again.
            log.exception("could not send a tick for %s", case_id)
            return


@app.timer(interval=settings.tick_interval_seconds)
async def count_open_referrals() -> None:
    try:
        processor.report_open()
    except Exception:
        # A timer that raises stops for good; the next round tries again.
        log.exception("could not count open referrals")


@app.task
async def on_start() -> None:
    log.info(
        "referral router started: %d rules, %d agencies, reach %.0f km",
        len(router.rules),
        len(directory),
        router.max_km,
    )
    print_line("REFERRALS_READY")
