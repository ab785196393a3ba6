"""`python -m homeward_gateway`: serve the agency gateway with uvicorn.

Prints `GATEWAY_LISTENING http://HOST:PORT` (flushed) as soon as HTTP is
served (/livez answers), and `GATEWAY_READY http://HOST:PORT` once every inbox
topic is read to its end and the producer is connected, so scripts and tests
wait on one line instead of polling. `--help` prints the options and exits.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
from collections.abc import Callable, Sequence

import uvicorn

from homeward.cli import prog_name
from homeward.probes import print_line
from homeward.settings import KafkaSettings
from homeward.version import version_line
from homeward_gateway.settings import GatewaySettings

READY_LINE = "GATEWAY_READY"
LISTENING_LINE = "GATEWAY_LISTENING"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_gateway"),
        description="The agency gateway: each agency's own inbox over HTTPS (list, live "
        "stream, acknowledge, answer). Configured by the environment: HOMEWARD_GATEWAY_* "
        "(this service), HOMEWARD_KAFKA_* (the broker), HOMEWARD_OIDC_* (the token issuer); "
        "the options below override the first.",
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("--host", help="interface to listen on (HOMEWARD_GATEWAY_HOST)")
    parser.add_argument(
        "--port", type=int, help="TCP port, 0 for a free one (HOMEWARD_GATEWAY_PORT)"
    )
    parser.add_argument("--log-level", help="Python logging level (HOMEWARD_GATEWAY_LOG_LEVEL)")
    return parser.parse_args(argv)


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket before uvicorn starts: with port 0 the kernel
    picks a free one and no other process can take it in between."""
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
    if host in {"", "0.0.0.0"}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def announce(server: uvicorn.Server, ready: Callable[[], bool], url: str) -> None:
    tick = threading.Event()
    listening = False
    while not tick.wait(0.05):
        if server.should_exit:
            return
        if server.started and not listening:
            print_line(f"{LISTENING_LINE} {url}")
            listening = True
        if listening and ready():
            print_line(f"{READY_LINE} {url}")
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "log_level": args.log_level}.items()
        if v is not None
    }
    settings = GatewaySettings(**overrides)
    kafka = KafkaSettings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)
    # Imported here: `--help` answers without loading FastAPI, Kafka or the schemas.
    from homeward_gateway.mounts import installed_mounts
    from homeward_gateway.wiring import build_kafka_app

    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    # The console's forms post form-encoded bodies; it caps them itself.
    app = build_kafka_app(settings, kafka, mounts=installed_mounts(), exempt_prefixes=("/console",))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            # Live streams never end by themselves: at a SIGTERM they get this
            # long, then are closed, and each client resumes elsewhere with
            # Last-Event-ID (nothing lost), instead of holding the stop up.
            timeout_graceful_shutdown=2,
        )
    )
    threading.Thread(
        target=announce,
        args=(server, app.state.gateway.ready, public_url(settings.host, port)),
        name="gateway-announce",
        daemon=True,
    ).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
