"""`python -m homeward_timeline CASE_ID [--json] [--police] [--timeout SECONDS]`:
print a case's timeline, one event per line (or the whole timeline as JSON).

Kafka settings come from the environment (HOMEWARD_KAFKA_*, KAFKA_BOOTSTRAP_SERVERS)
and topic names from the topology under HOMEWARD_TOPIC_PREFIX. Without
--police, police-only entries show only their type and time.

Exit status: 0 printed, 1 Kafka could not be read, 2 bad arguments or settings.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
from typing import TextIO

from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.version import version_line
from homeward_timeline.query import Entry, Timeline, TimelineQuery

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward_timeline"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("case_id", metavar="CASE_ID", help="the case (or report) id")
    parser.add_argument("--json", action="store_true", help="print the timeline as one JSON object")
    parser.add_argument(
        "--police", action="store_true", help="police clearance: show police-only summaries"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to read the partitions (default 30)"
    )
    return parser


def format_entry(entry: Entry) -> str:
    """time  type  topic  summary (or a police-only marker); one line, whatever the text."""
    when = entry.time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    kind = entry.type.rsplit(".", 1)[-1]
    if entry.summary is None:
        return f"{when}  {kind:<24} (police only)"
    summary = " ".join(_CONTROL.sub(" ", entry.summary).split())
    return f"{when}  {kind:<24} {entry.topic or '-'}  {summary}"


def format_text(timeline: Timeline) -> str:
    parts = sorted(set(timeline.partitions.values()))
    where = ", ".join(str(p) for p in parts) or "-"
    head = (
        f"case {timeline.case_id}: {len(timeline.entries)} event(s) "
        f"(partition {where}; {timeline.records_read} record(s) read, "
        f"{timeline.skipped} undecodable skipped; clearance {timeline.clearance})"
    )
    return "\n".join([head, *(format_entry(e) for e in timeline.entries)])


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    if not CASE_ID.match(args.case_id):
        print(
            "error: CASE_ID: 1-64 letters, digits or . _ : - starting with a letter or digit",
            file=sys.stderr,
        )
        return 2
    if args.timeout <= 0:
        print("error: --timeout must be positive", file=sys.stderr)
        return 2
    if isinstance(out, io.TextIOWrapper):
        out.reconfigure(encoding="utf-8")
    try:
        query = TimelineQuery(KafkaSettings(), timeout_seconds=args.timeout)
    except (HomewardError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        timeline = query(args.case_id, police=args.police)
    except HomewardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.write((timeline.model_dump_json() if args.json else format_text(timeline)) + "\n")
    out.flush()
    return 0
