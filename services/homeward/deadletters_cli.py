"""`homeward deadletters list | replay`: the dead-letter topic, by reason and origin,
and sending a chosen set back to the topics they came from once the cause is fixed.

  list    counts by origin topic, service and reason (--each: every dead letter)
  replay  re-publish the selected ones (--by NAME is required: it goes on every
          replayed record and on the replay marker); already-replayed ones are
          skipped unless --again; --dry-run shows what would be sent

Filters (both commands): --reason TEXT (a part of the reason), --origin TOPIC (a
topic name or topology id), --service NAME, --since/--until TIME (ISO 8601, when
dead-lettered), --partition N, --from-offset N, --to-offset N (of the dead-letter
topic). It connects as HOMEWARD_KAFKA_* say: the `operator` principal, which may
read the dead letters and write the topics they come from (topology/principals.yaml).
See docs/operations.md, "Outages and parked records".
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from homeward import deadletter_replay as dr
from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.settings import KafkaSettings
from homeward.topology import current_topology
from homeward.version import version_line


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward deadletters"),
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("--reason")
    parser.add_argument("--origin")
    parser.add_argument("--service")
    parser.add_argument("--since", type=_time)
    parser.add_argument("--until", type=_time)
    parser.add_argument("--partition", type=int)
    parser.add_argument("--from-offset", type=int)
    parser.add_argument("--to-offset", type=int)
    parser.add_argument("--each", action="store_true", help="list: every dead letter")
    parser.add_argument("--by", help="replay: who is replaying (a person, for the record)")
    parser.add_argument("--again", action="store_true", help="replay: also the replayed ones")
    parser.add_argument("--dry-run", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "replay" and not (args.by or "").strip():
        print("error: replay needs --by NAME (who replays, for the record)", file=sys.stderr)
        return 2
    selection = dr.Selection(
        reason=args.reason,
        origin=args.origin,
        service=args.service,
        since=args.since,
        until=args.until,
        partition=args.partition,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
    )
    settings = KafkaSettings()
    topology = current_topology()
    try:
        letters = dr.read(settings, topology.get("dead_letters").name)
        chosen = [d for d in letters.letters if selection.holds(d, topology)]
        if args.command == "list":
            if args.each:
                for d in chosen:
                    replayed = "; ".join(letters.replayed.get(d.ref, [])) or "-"
                    print(
                        f"{d.ref:>10}  {d.at.isoformat(timespec='seconds')}  {d.origin}  "
                        f"{d.service}  {d.reason}  replayed: {replayed}"
                    )
            else:
                print(dr.as_json(dr.summary(chosen, letters.replayed)))
            return 0
        # The principal is the Kafka identity; --by the person acting through it.
        principal = settings.sasl_username or "(unauthenticated)"
        actor = f"{args.by.strip()} as {principal}"
        report = dr.replay(
            settings,
            topology,
            selection,
            actor=actor,
            again=args.again,
            dry_run=args.dry_run,
            letters=letters,
        )
        print(dr.as_json({"actor": actor, "dry_run": args.dry_run, **report.as_dict()}))
        return 1 if report.refused else 0
    except (HomewardError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
