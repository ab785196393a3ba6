"""Probes and their HTTP server (homeward.probes), and the Faust state the
workers' probes read (homeward.faust_probes), with stand-ins for the app."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from homeward.faust_probes import FaustState
from homeward.probes import Probes, ProbeServer, run_checks, wsgi_app


def call(app: Any, path: str) -> tuple[str, bytes]:
    status: list[str] = []
    body = b"".join(
        app(
            {"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": ""},
            lambda s, headers: status.append(s),
        )
    )
    return status[0], body


def test_a_probe_passes_when_every_check_does_and_names_each_that_fails() -> None:
    def broken() -> str | None:
        raise RuntimeError("bug in a check")

    assert run_checks({"a": lambda: None}).ok
    verdict = run_checks({"a": lambda: None, "b": lambda: "not yet", "c": broken})
    assert not verdict.ok
    assert verdict.reasons == {"b": "not yet", "c": "check failed: RuntimeError: bug in a check"}


def test_healthz_readyz_and_metrics_answer_from_the_checks() -> None:
    state = {"ready": "waiting for a partition assignment"}
    probes = Probes("unit-probes")
    probes.add_readiness("group", lambda: state["ready"])
    app = wsgi_app(probes)
    status, body = call(app, "/healthz")
    assert status.startswith("200") and json.loads(body)["status"] == "ok"
    status, body = call(app, "/readyz")
    assert status.startswith("503")
    assert json.loads(body) == {
        "status": "failing",
        "service": "unit-probes",
        "reasons": {"group": "waiting for a partition assignment"},
    }
    assert REGISTRY.get_sample_value("homeward_ready", {"service": "unit-probes"}) == 0
    assert REGISTRY.get_sample_value("homeward_up", {"service": "unit-probes"}) == 1
    state["ready"] = None
    assert call(app, "/readyz")[0].startswith("200")
    status, body = call(app, "/metrics")
    assert status.startswith("200")
    assert b'homeward_ready{service="unit-probes"} 1.0' in body
    assert call(app, "/other")[0].startswith("404")


def test_not_live_is_not_ready_either() -> None:
    probes = Probes("unit-dead")
    probes.add_liveness("loop", lambda: "the event loop did not answer within 5s")
    assert probes.readiness().reasons == {"loop": "the event loop did not answer within 5s"}
    assert REGISTRY.get_sample_value("homeward_up", {"service": "unit-dead"}) == 0


def test_the_server_serves_on_its_port_and_stops() -> None:
    probes = Probes("unit-server")
    probes.add_readiness("x", lambda: "no")
    server = ProbeServer(wsgi_app(probes), 0, "127.0.0.1").start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/readyz", timeout=5)
        assert err.value.code == 503 and json.loads(err.value.read())["reasons"] == {"x": "no"}
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/healthz", timeout=2)


# -- the Faust worker's state ---------------------------------------------------


class Signal:
    def __init__(self) -> None:
        self.receivers: list[Any] = []

    def connect(self, fun: Any) -> Any:
        self.receivers.append(fun)
        return fun

    async def send(self, sender: Any, *args: Any) -> None:
        for r in self.receivers:
            await r(sender, *args, signal=self)


class FakeApp:
    def __init__(self) -> None:
        self.on_partitions_revoked = Signal()
        self.on_partitions_assigned = Signal()
        self.on_before_shutdown = Signal()
        self.crashed = False
        self.in_recovery = False
        self.recovered = threading.Event()
        self.tables = type("Tables", (), {"recovery": type("R", (), {"completed": self.recovered})})
        self.producer = type("Producer", (), {"started": True})()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread, as the worker's runs beside the probe thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def signal(loop: asyncio.AbstractEventLoop, sig: Signal, app: FakeApp, *args: Any) -> None:
    asyncio.run_coroutine_threadsafe(sig.send(app, *args), loop).result(5)


def test_a_worker_is_ready_once_assigned_recovered_and_producing(
    loop: asyncio.AbstractEventLoop,
) -> None:
    app = FakeApp()
    state = FaustState(app, loop_timeout=2)
    assert state.alive() is None  # starting: no loop known yet
    assert state.joined() == "waiting for a partition assignment"
    assert state.recovered() is None  # not said twice
    signal(loop, app.on_partitions_revoked, app, set())
    assert state.loop is loop and state.alive() is None
    signal(loop, app.on_partitions_assigned, app, set())
    assert state.joined() is None
    assert state.recovered() == "recovering tables from their changelogs"
    app.recovered.set()
    assert state.recovered() is None and state.producing() is None
    app.producer.started = False
    assert state.producing() == "the producer is not started"
    app.in_recovery = True  # a later rebalance recovers again
    assert state.recovered() is not None
    signal(loop, app.on_before_shutdown, app)
    assert state.joined() == "shutting down"


def test_a_blocked_or_closed_loop_or_a_crash_is_not_alive(
    loop: asyncio.AbstractEventLoop,
) -> None:
    app = FakeApp()
    state = FaustState(app, loop_timeout=0.2)
    signal(loop, app.on_partitions_assigned, app, set())
    release = threading.Event()
    loop.call_soon_threadsafe(release.wait, 5)  # a handler that blocks the loop
    try:
        assert state.alive() == "the event loop did not answer within 0.2s"
    finally:
        release.set()
    assert state.alive() is None
    app.crashed = True
    assert state.alive() == "the Faust app crashed"
    app.crashed = False
    closed = asyncio.new_event_loop()
    closed.close()
    after = FaustState(FakeApp(), loop_timeout=0.2)
    after.loop = closed
    assert after.alive() == "the event loop is closed"


def test_one_scrape_waits_for_the_loop_once(loop: asyncio.AbstractEventLoop) -> None:
    app = FakeApp()
    state = FaustState(app, loop_timeout=0.2)
    signal(loop, app.on_partitions_assigned, app, set())
    assert state.alive() is None
    release = threading.Event()
    loop.call_soon_threadsafe(release.wait, 5)
    try:
        # Up, ready and /healthz within a second: the loop's last answer stands.
        assert state.alive() is None
    finally:
        release.set()
