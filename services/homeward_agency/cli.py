"""`python -m homeward_agency --agency-id ID --agency-type TYPE [--forward URL]
[--json] [--no-ack] [--metrics-port N]`: the reference subscriber an agency runs.

Prints each delivery as a readable line (or a JSON line with --json): alert
deliveries (alert, update, sighting, cancellation, public_notice), and the
referral kinds (referral, answer_refused, referral_overdue, referral_escalated,
report_overdue) with the referral id, service, deadlines and the person as
this agency's projection shows them. With --forward, POSTs each to the
agency's endpoint and acknowledges only after a 2xx. Only alert deliveries are
acknowledged; a referral is answered through the SDK (Subscriber.answer) or
intake's POST /v1/referrals/{case_id}/{referral_id}/answers. SIGINT or SIGTERM stops it cleanly: the current delivery is finished,
the producer flushed and the consumer closed.
"""

from __future__ import annotations

import argparse
import io
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

from kafka.errors import KafkaError

from homeward.agencies import AgencyType
from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.metrics import set_build_info
from homeward.probes import Probes, ProbeServer, wsgi_app
from homeward.settings import KafkaSettings
from homeward.version import version_line
from homeward_agency.delivery import Delivery
from homeward_agency.forward import Forwarder
from homeward_agency.journal import HandledJournal
from homeward_agency.outbox import SDK
from homeward_agency.render import format_line, to_json_line
from homeward_agency.settings import AgencySettings
from homeward_agency.subscriber import Subscriber

log = logging.getLogger("homeward_agency")


def build_parser(defaults: AgencySettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_agency"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument(
        "--agency-id",
        default=defaults.agency_id,
        help="this agency's directory id (env HOMEWARD_AGENCY_AGENCY_ID)",
    )
    parser.add_argument(
        "--agency-type",
        default=defaults.agency_type,
        choices=[t.value for t in AgencyType],
        metavar="TYPE",
        help="this agency's type, which picks the inbox (env HOMEWARD_AGENCY_AGENCY_TYPE)",
    )
    parser.add_argument(
        "--principal",
        default=defaults.principal,
        help="the principal its acks and answers name as their actor "
        "(env HOMEWARD_AGENCY_PRINCIPAL; default its Kafka user, else agency:<id>)",
    )
    parser.add_argument(
        "--group-id",
        default=defaults.group_id,
        help="consumer group for offsets (default homeward-agency-<id>)",
    )
    parser.add_argument(
        "--forward",
        metavar="URL",
        default=defaults.forward_url,
        help="POST each delivery as JSON to URL; acknowledge only after a 2xx",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=defaults.json_output,
        help="print one JSON object per line",
    )
    parser.add_argument(
        "--no-ack",
        dest="ack",
        action="store_false",
        default=defaults.ack,
        help="never acknowledge (watch an inbox without answering for it)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=defaults.metrics_port,
        help="serve /metrics, /healthz and /readyz on this port (0: none)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=defaults.state_dir,
        help="keep what was handled in DIR, so a restart after a kill prints or forwards "
        "nothing twice (env HOMEWARD_AGENCY_STATE_DIR)",
    )
    parser.add_argument("--log-level", default=defaults.log_level)
    return parser


def make_handler(
    out: TextIO, *, as_json: bool, forwarder: Forwarder | None
) -> Callable[[Delivery], None]:
    render = to_json_line if as_json else format_line

    def handle(delivery: Delivery) -> None:
        if forwarder is not None:
            # Raises unless a 2xx: then the delivery is neither shown nor acknowledged,
            # and the subscriber retries it, so it is printed once, when it went through.
            forwarder(delivery)
        out.write(render(delivery) + "\n")
        out.flush()

    return handle


def _install_signals(stop: threading.Event) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal: stop now
        log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def serve_probes(port: int, stop: threading.Event) -> ProbeServer | None:
    """/metrics, /healthz and /readyz on `port` (0: none). The subscriber is
    built (its inbox found) before this: ready until told to stop."""
    set_build_info(SDK)
    if not port:
        return None
    probes = Probes(SDK)
    probes.add_readiness("stopping", lambda: "stopping" if stop.is_set() else None)
    return ProbeServer(wsgi_app(probes), port).start()


def main(argv: list[str] | None = None) -> int:
    try:
        defaults = AgencySettings()
    except ValueError as exc:
        print(f"error: settings: {exc}", file=sys.stderr)
        return 2
    args = build_parser(defaults).parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=str(args.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is per connection
    if not args.agency_id or not args.agency_type:
        print(
            "error: --agency-id and --agency-type are required "
            "(or HOMEWARD_AGENCY_AGENCY_ID / HOMEWARD_AGENCY_AGENCY_TYPE)",
            file=sys.stderr,
        )
        return 2
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")  # names are not ASCII; JSON lines are UTF-8

    stop = threading.Event()
    _install_signals(stop)
    journal = None
    try:
        if args.state_dir is not None:
            journal = HandledJournal(
                args.state_dir / f"handled-{args.agency_id}.log", defaults.seen_capacity
            )
        subscriber = Subscriber(
            args.agency_id,
            args.agency_type,
            KafkaSettings(),
            group_id=args.group_id,
            seen_capacity=defaults.seen_capacity,
            principal=args.principal,
            journal=journal,
        )
    except (HomewardError, KafkaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server = serve_probes(args.metrics_port, stop)
    except OSError as exc:
        print(f"error: --metrics-port {args.metrics_port}: {exc}", file=sys.stderr)
        subscriber.close()
        return 2
    forwarder = None
    if args.forward:
        forwarder = Forwarder(
            args.forward,
            attempts=defaults.forward_attempts,
            backoff=defaults.forward_backoff_seconds,
            timeout=defaults.forward_timeout_seconds,
            stop_event=stop,
        )
    log.info(
        "agency %s reading %s partition %d as group %s%s",
        subscriber.agency_id,
        subscriber.topic,
        subscriber.partition,
        subscriber.group_id,
        "" if args.ack else " (not acknowledging)",
    )
    handler = make_handler(sys.stdout, as_json=args.json, forwarder=forwarder)
    code = 0
    try:
        subscriber.run(handler, stop, ack=args.ack, poll_timeout=defaults.poll_timeout_seconds)
    except KeyboardInterrupt:
        log.warning("stopped at once on a second signal")
        code = 130
    except (HomewardError, KafkaError) as exc:
        log.error("stopping on %s: %s", type(exc).__name__, exc)
        code = 1
    finally:
        if forwarder is not None:
            forwarder.close()
        subscriber.close()
        if journal is not None:
            journal.close()
        if server is not None:
            server.stop()
    log.info("stopped: %s", subscriber.stats())
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
