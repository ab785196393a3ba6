"""/metrics, /healthz and /readyz for a Faust worker, from Faust's own state.

- Live: the app has not crashed, and its event loop runs a callback handed
  to it from the probe thread within a few seconds (a loop blocked by a
  stuck handler is not alive). Before the worker first joins its group the
  loop is not known yet, and the process counts as starting, i.e. alive.
- Ready: the worker joined its group (Faust's on_partitions_assigned signal
  fired; an empty assignment counts: more workers than partitions is a
  valid, if idle, state), its tables are recovered from their changelogs
  (not in recovery), its producer is started, Kafka answered the lag
  reporter recently, and it is not shutting down (on_before_shutdown).

`instrument()` is called once, when the service's agents module loads, before
the worker starts; with port 0 it only sets the build info.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeward.errors import ConfigError
from homeward.lag import LagReporter
from homeward.metrics import set_build_info
from homeward.probes import Probes, ProbeServer, wsgi_app
from homeward.settings import KafkaSettings

log = logging.getLogger(__name__)

LOOP_TIMEOUT_SECONDS = 5.0
ANSWER_KEPT_SECONDS = 1.0


class FaustState:
    """What the probes need to know of a Faust app, kept by its signals."""

    def __init__(self, app: Any, loop_timeout: float = LOOP_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.loop_timeout = loop_timeout
        self.loop: asyncio.AbstractEventLoop | None = None
        self.producer: Any = None
        self.assigned = False
        self.stopping = False
        self._answered_at = float("-inf")  # when the loop last answered
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_partitions_assigned.connect(self._on_assigned)
        app.on_before_shutdown.connect(self._on_shutdown)

    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        # The first signal of a join: the loop is known from here on.
        self.loop = asyncio.get_running_loop()

    async def _on_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.producer = sender.producer
        self.assigned = True

    async def _on_shutdown(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        self.stopping = True

    # -- liveness ----------------------------------------------------------------
    def alive(self) -> str | None:
        if self.app.crashed:
            return "the Faust app crashed"
        loop = self.loop
        if loop is None:
            return None  # starting: the worker has not joined its group yet
        if time.monotonic() - self._answered_at < ANSWER_KEPT_SECONDS:
            return None  # one scrape asks up, ready and health: one wait will do
        done = threading.Event()
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:
            return "the event loop is closed"
        if not done.wait(self.loop_timeout):
            return f"the event loop did not answer within {self.loop_timeout:g}s"
        self._answered_at = time.monotonic()
        return None

    # -- readiness ---------------------------------------------------------------
    def joined(self) -> str | None:
        if self.stopping:
            return "shutting down"
        if not self.assigned:
            return "waiting for a partition assignment"
        return None

    def recovered(self) -> str | None:
        if not self.assigned:
            return None  # said by `joined`
        recovery = self.app.tables.recovery
        if self.app.in_recovery or not recovery.completed.is_set():
            return "recovering tables from their changelogs"
        return None

    def producing(self) -> str | None:
        if self.producer is not None and not self.producer.started:
            return "the producer is not started"
        return None


@dataclass
class Instrumented:
    probes: Probes
    state: FaustState
    server: ProbeServer
    lag: LagReporter

    def stop(self) -> None:
        self.lag.stop()
        self.server.stop()


def instrument(
    app: Any,
    *,
    service: str,
    port: int,
    kafka: KafkaSettings,
    topics: Sequence[str],
    host: str = "0.0.0.0",
    lag_interval_seconds: float = 5.0,
    setting: str = "metrics_port",
) -> Instrumented | None:
    """Serve /metrics, /healthz and /readyz on `port` (0: not at all) and report
    the lag of the app's group on `topics` (what its agents read)."""
    set_build_info(service)
    if not port:
        return None
    state = FaustState(app)
    probes = Probes(service)
    probes.add_liveness("loop", state.alive)
    probes.add_readiness("group", state.joined)
    probes.add_readiness("tables", state.recovered)
    probes.add_readiness("producer", state.producing)
    # Faust's consumer group is its app id.
    lag = LagReporter(
        kafka,
        service=service,
        group=app.conf.id,
        topics=topics,
        interval_seconds=lag_interval_seconds,
    )
    probes.add_readiness("kafka", lag.reachable)
    try:
        server = ProbeServer(wsgi_app(probes), port, host).start()
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on port {port}: {exc}", field=setting) from exc
    lag.start()
    done = Instrumented(probes, state, server, lag)

    async def stop_lag(sender: Any, *args: Any, **kwargs: Any) -> None:
        # The HTTP server stays up to the end, answering /readyz with 503.
        await asyncio.get_running_loop().run_in_executor(None, lag.stop)

    app.on_before_shutdown.connect(stop_lag)
    log.info("metrics and probes on port %d (group %s)", server.port, app.conf.id)
    return done
