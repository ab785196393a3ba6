"""Liveness, readiness and /metrics for the services that have no web server
of their own (the Faust workers): named checks, and one small threaded HTTP
server that answers GET /metrics (prometheus_client's own WSGI app),
/healthz and /readyz.

A check is a function returning None when all is well, or the reason it is
not; a probe passes when every one of its checks does. The answers are JSON:
{"status": "ok" | "failing", "service": ..., "reasons": {check: reason}}.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from homeward.metrics import READY, UP

log = logging.getLogger(__name__)

Check = Callable[[], str | None]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reasons: dict[str, str] = field(default_factory=dict)

    def body(self, service: str) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "failing",
            "service": service,
            "reasons": self.reasons,
        }


def run_checks(checks: dict[str, Check]) -> Verdict:
    """Every check, in order; one that raises fails with what it raised."""
    reasons: dict[str, str] = {}
    for name, check in list(checks.items()):
        try:
            reason = check()
        except Exception as exc:  # a broken check must fail the probe, not the server
            reason = f"check failed: {type(exc).__name__}: {exc}"
        if reason is not None:
            reasons[name] = reason
    return Verdict(not reasons, reasons)


class Probes:
    """A service's liveness and readiness checks, and its homeward_up and
    homeward_ready gauges (evaluated when scraped, so never stale)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.liveness_checks: dict[str, Check] = {}
        self.readiness_checks: dict[str, Check] = {}
        UP.labels(service).set_function(lambda: float(self.liveness().ok))
        READY.labels(service).set_function(lambda: float(self.readiness().ok))

    def add_liveness(self, name: str, check: Check) -> None:
        self.liveness_checks[name] = check

    def add_readiness(self, name: str, check: Check) -> None:
        self.readiness_checks[name] = check

    def liveness(self) -> Verdict:
        return run_checks(self.liveness_checks)

    def readiness(self) -> Verdict:
        # Not live is not ready either.
        live = self.liveness()
        ready = run_checks(self.readiness_checks)
        reasons = {**live.reasons, **ready.reasons}
        return Verdict(not reasons, reasons)


def wsgi_app(probes: Probes, registry: CollectorRegistry = REGISTRY) -> WsgiApp:
    """GET /metrics, /healthz (200 or 503) and /readyz (200 or 503); 404 elsewhere."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path in ("/healthz", "/readyz"):
            verdict = probes.liveness() if path == "/healthz" else probes.readiness()
            status = "200 OK" if verdict.ok else "503 Service Unavailable"
            body = json.dumps(verdict.body(probes.service)).encode()
            start_response(status, [("Content-Type", "application/json")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics, /healthz and /readyz are served here\n"]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news


class ProbeServer:
    """The WSGI app above on its own port, served from a daemon thread."""

    def __init__(self, app: WsgiApp, port: int, host: str = "0.0.0.0") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingWSGIServer):
            address_family = family

        self._httpd: WSGIServer = make_server(host, port, app, Server, handler_class=_QuietHandler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="homeward-probes", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()


def print_line(line: str) -> None:
    """Print a line that scripts and tests wait for (`INTAKE_READY <url>`, ...) in
    one write: print() writes the text and its newline apart, and a log line from
    another thread can land between them, fusing the two."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
