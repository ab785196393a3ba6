"""`python -m homeward.topology [show|apply|acls|apply-acls]`."""

from __future__ import annotations

import argparse
import sys

from homeward.errors import HomewardError
from homeward.topology.acls import apply_acls, plan
from homeward.topology.admin import apply
from homeward.topology.model import Topology


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="homeward topology", description=__doc__)
    parser.add_argument("command", choices=["show", "apply", "acls", "apply-acls"])
    args = parser.parse_args(argv)
    topology = Topology.load()
    if args.command == "show":
        for t in topology.all():
            print(
                f"{t.name:45} p={t.partitions} rf={t.replication} {t.classification.value:12} "
                f"key={t.key}"
            )
        return 0
    if args.command == "acls":
        print("\n".join(g.line() for g in plan(topology)))
        return 0
    try:
        if args.command == "apply-acls":
            print(f"{len(apply_acls(topology))} grants applied")
            return 0
        report = apply(topology)
    except HomewardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
