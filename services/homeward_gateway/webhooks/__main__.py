"""`homeward webhooks run | replay [--agency ID] [--since TIME]` (the same as
`python -m homeward_gateway.webhooks ...`).

run     the dispatcher alone (what the gateway process runs beside its app),
        until SIGTERM or SIGINT; offsets committed on the way out.
replay  POST every dead letter again (of one agency, dead-lettered since a
        time), exit 0 when all were delivered, 1 when some were not.

Settings from the environment: HOMEWARD_GATEWAY_WEBHOOKS_* (settings.py) and
the Kafka connection (HOMEWARD_KAFKA_*, HOMEWARD_TOPIC_PREFIX).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import UTC, datetime
from types import FrameType

from prometheus_client import start_http_server

from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.version import version_line
from homeward_gateway.webhooks import build
from homeward_gateway.webhooks.registry import Registry
from homeward_gateway.webhooks.replay import replay
from homeward_gateway.webhooks.settings import WebhookSettings


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since: {text!r} is not an ISO 8601 time (e.g. 2026-12-02T08:00:00+08:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_gateway.webhooks"),
        description="The agency gateway's signed webhooks (docs/webhooks.md).",
    )
    p.add_argument("--version", action="version", version=version_line())
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the dispatcher alone until SIGTERM")
    run.add_argument("--metrics-port", type=int, default=0, help="serve /metrics here (0: none)")
    again = sub.add_parser("replay", help="POST the dead letters again")
    again.add_argument("--agency", help="only this agency's dead letters")
    again.add_argument(
        "--since", type=_time, help="only those dead-lettered at or after this ISO 8601 time"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = WebhookSettings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    kafka_settings = KafkaSettings()
    try:
        if args.command == "run":
            dispatcher = build(kafka_settings, settings)
            if args.metrics_port:
                start_http_server(args.metrics_port)

            def stop(_signum: int, _frame: FrameType | None) -> None:
                dispatcher.stop_event.set()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            dispatcher.run()
            return 0
        registry = Registry.load(settings.registry_path(), require_https=settings.require_https)
        report = replay(kafka_settings, settings, registry, agency=args.agency, since=args.since)
    except HomewardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"replayed: {len(report.delivered)} delivered, {len(report.failed)} failed, "
        f"{len(report.skipped)} skipped"
    )
    for webhook_id in report.failed:
        print(f"failed: {webhook_id}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
