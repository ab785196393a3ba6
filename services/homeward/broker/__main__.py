"""``python -m homeward.broker {start,fetch}``: a local Kafka for development.

``start`` runs in the foreground until SIGINT/SIGTERM, prints ``BOOTSTRAP=host:port[,...]``
(flushed) once every node answers, and writes ``homeward-broker.json`` into the run dir.
``fetch`` only fetches the jars into the cache and prints the libs dir.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType

from homeward.broker.cluster import KafkaCluster
from homeward.broker.jars import BrokerError, fetch_kafka, kafka_version
from homeward.cli import prog_name
from homeward.version import version_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward.broker"), description=__doc__
    )
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="run a local Kafka cluster in the foreground")
    start.add_argument("--nodes", type=int, default=1, help="broker+controller nodes (1)")
    start.add_argument("--run-dir", default=None, help="data, configs, logs (a new temp dir)")
    start.add_argument("--version", default=None, help=f"Kafka version ({kafka_version()})")
    start.add_argument("--timeout", type=float, default=60.0, help="startup deadline, s (60)")
    start.add_argument("--heap", default="512m", help="JVM -Xmx per node (512m)")
    start.add_argument(
        "--security",
        choices=["plaintext", "scram"],
        default="plaintext",
        help="scram: SASL/SCRAM-SHA-512, the standard authorizer, deny by default "
        "(the admin's client properties go to <run dir>/admin.properties)",
    )

    fetch = sub.add_parser("fetch", help="fetch the Kafka jars into the cache only")
    fetch.add_argument("--version", default=None, help=f"Kafka version ({kafka_version()})")
    fetch.add_argument("--force", action="store_true", help="fetch even if cached")
    return parser


def _start(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    cluster = KafkaCluster(
        args.nodes,
        run_dir=args.run_dir,
        version=args.version,
        heap=args.heap,
        startup_timeout=args.timeout,
        security=args.security,
    )
    started = time.monotonic()
    try:
        cluster.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"KAFKA_VERSION={cluster.version}")
    print(f"RUN_DIR={cluster.run_dir}")
    print(f"STATE_FILE={cluster.state_file}")
    if cluster.security is not None:  # where the admin's secret is, never the secret
        print(f"ADMIN_USER={cluster.security.admin_user}")
        print(f"ADMIN_PROPERTIES={cluster.run_dir / 'admin.properties'}")
    print(f"STARTED_IN={time.monotonic() - started:.1f}s")
    print(f"BOOTSTRAP={cluster.bootstrap_servers}", flush=True)
    code = 0
    try:
        while not stop.wait(1.0):
            dead = [n for n in cluster.nodes if not n.running]
            if dead:
                for node in dead:
                    print(f"error: {node.describe_failure()}", file=sys.stderr, flush=True)
                code = 1
                break
    finally:
        cluster.stop()
        print(f"stopped; logs kept in {cluster.run_dir}", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # the readiness probe's retries
    if args.command == "fetch":
        try:
            libs = fetch_kafka(args.version, force=args.force)
        except BrokerError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"LIBS={libs}", flush=True)
        return 0
    return _start(args)


if __name__ == "__main__":
    sys.exit(main())
