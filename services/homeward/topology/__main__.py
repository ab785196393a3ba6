"""`python -m homeward.topology [show|apply|principals|acls|apply-users|apply-acls|apply-all]`.

show/principals/acls print the declarations and the derived grants; apply creates the
topics, apply-users the principals' SCRAM users (passwords: homeward.topology.users),
apply-acls the grants, apply-all all three. Connection and admin credentials come from
HOMEWARD_KAFKA_* (homeward.settings.KafkaSettings)."""

from __future__ import annotations

import argparse
import sys

from homeward.cli import prog_name
from homeward.errors import HomewardError
from homeward.topology.acls import apply_acls, grants_table, plan
from homeward.topology.admin import apply
from homeward.topology.model import Topology
from homeward.topology.principals import load_principals
from homeward.topology.users import apply_users, passwords
from homeward.version import version_line

COMMANDS = ["show", "apply", "principals", "acls", "apply-users", "apply-acls", "apply-all"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog_name("python -m homeward.topology"), description=__doc__
    )
    parser.add_argument("--version", action="version", version=version_line())
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "--markdown", action="store_true", help="acls: one table row per principal (the docs')"
    )
    args = parser.parse_args(argv)
    try:
        topology = Topology.load()
        principals = load_principals()
        if args.command == "show":
            for t in topology.all():
                print(
                    f"{t.name:45} p={t.partitions} rf={t.replication} "
                    f"{t.classification.value:12} key={t.key}"
                )
            return 0
        if args.command == "principals":
            for p in principals:
                print(f"{p.user:28} {p.kind:13} roles={','.join(p.roles)}")
            return 0
        if args.command == "acls":
            if args.markdown:
                print(grants_table(topology, principals))
            else:
                print("\n".join(g.line() for g in plan(topology, principals)))
            return 0
        if args.command in ("apply", "apply-all"):
            print("\n".join(apply(topology).lines()))
        if args.command in ("apply-users", "apply-all"):
            users = apply_users(principals, passwords(principals))
            print(f"{len(users)} SCRAM users created or updated")  # names only, never secrets
        if args.command in ("apply-acls", "apply-all"):
            print(f"{len(apply_acls(topology, principals=principals))} grants applied")
    except HomewardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
