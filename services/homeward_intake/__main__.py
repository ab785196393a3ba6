"""`python -m homeward_intake` (or `homeward intake`): serve the intake API with uvicorn.

Settings from HOMEWARD_INTAKE_* (host, port, ...), the identity provider from
HOMEWARD_OIDC_*, the Kafka connection from HOMEWARD_KAFKA_* (KAFKA_BOOTSTRAP_SERVERS).

Prints `INTAKE_READY http://HOST:PORT` (flushed) once the server accepts
connections and the service is ready (producer connected, idempotency and
referral logs read), so scripts and tests wait on one line instead of polling or sleeping.
`INTAKE_LISTENING http://HOST:PORT` comes first, as soon as HTTP is served
(/healthz answers) even while Kafka is still being waited for.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading

import uvicorn

from homeward.audit import AuditEntry
from homeward.audit.writer import KafkaAuditor
from homeward.cli import prog_name
from homeward.probes import print_line
from homeward.settings import KafkaSettings
from homeward.version import version_line
from homeward_intake.app import build_kafka_app
from homeward_intake.handlers import Intake
from homeward_intake.settings import IntakeSettings

READY_LINE = "INTAKE_READY"
LISTENING_LINE = "INTAKE_LISTENING"


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, before uvicorn starts.

    With port 0 the kernel picks a free port and we learn it from the socket;
    handing the bound socket to uvicorn leaves no window in which another
    process could take the port (as probing for a free port and closing would).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def public_url(host: str, port: int) -> str:
    """A URL a local client can use: wildcard addresses become loopback."""
    if host in {"", "0.0.0.0"}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def announce(server: uvicorn.Server, intake: Intake, url: str) -> None:
    """Print LISTENING once HTTP is served (liveness), READY once intake is ready too."""
    tick = threading.Event()
    listening = False
    while not tick.wait(0.05):
        if server.should_exit:
            return
        if server.started and not listening:
            print_line(f"{LISTENING_LINE} {url}")
            listening = True
        if listening and intake.ready():
            print_line(f"{READY_LINE} {url}")
            return


class LazyKafkaAuditor:
    """The Kafka auditor, connected on first use: intake starts (and answers its
    probes) while the broker is still coming up, as the Connector lets it."""

    def __init__(self, kafka: KafkaSettings, source_name: str) -> None:
        self.kafka = kafka
        self.source = f"/homeward/intake/{source_name}"
        self._auditor: KafkaAuditor | None = None
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        with self._lock:
            if self._auditor is None:
                self._auditor = KafkaAuditor(self.kafka, source=self.source)
        self._auditor.record(entry)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_intake"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before any setting is read or socket bound: --help and --version start nothing.
    build_parser().parse_args(argv)
    settings = IntakeSettings()
    kafka = KafkaSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        # kafka-python narrates every connection at INFO; its warnings still show.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    app = build_kafka_app(settings, kafka, auditor=LazyKafkaAuditor(kafka, settings.source_name))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
    server = uvicorn.Server(config)
    threading.Thread(
        target=announce,
        args=(server, app.state.intake, public_url(settings.host, port)),
        name="intake-announce",
        daemon=True,
    ).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
