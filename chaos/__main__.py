"""`python -m chaos [--short] [--only leader,fanout,...]`: the fault suite.

Starts a 3-broker KRaft cluster on loopback (SCRAM, replication 3, min ISR 2),
the project's Keycloak (or uses $HOMEWARD_OIDC_ISSUER), intake, the fan-out, the
referral router, the detector and an SDK subscriber as their own processes; runs
each scenario; prints the table; exits 1 unless every row passes.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from chaos.scenarios import HEADER, SERVICE_KILLS, TIMER_KILLS, Settings, line, run
from chaos.stack import Stack
from homeward import paths
from homeward_demo import identity

SCENARIOS = (
    "leader",
    *SERVICE_KILLS,
    *TIMER_KILLS,
    "poison",
    "rebalance-fanout",
    "rebalance-detector",
    "rebalance-referrals",
)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--short", action="store_true", help="the CI version: small bursts, one leader kill"
    )
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--alerts", type=int, default=None, help="alerts per scenario burst")
    p.add_argument("--births", type=int, default=None, help="births per health burst")
    p.add_argument("--leader-kills", type=int, default=None)
    p.add_argument("--run-dir", type=Path, default=None)
    return p.parse_args(argv)


def settings_for(args: argparse.Namespace) -> Settings:
    s = (
        Settings()
        if args.short
        else Settings(
            # Every row but the leader's: a burst each at a size the shared 2-core
            # machine carries in minutes.
            alerts=150,
            births=100,
            # The leader row: 10,000 events, the size. 299 alerts each with an
            # internal update (84 and 78 deliveries each), 30 rescues (8 referrals
            # each), 2,339 births and 5 planted anomalies (9,372 health records).
            leader_alerts=299,
            leader_births=2339,
            updates=1,
            leader_kills=5,
            settle_seconds=600,
            poison_every=99,
            rebalance=True,
            timer_kills=True,
        )
    )
    if args.alerts is not None:
        s.alerts = args.alerts
    if args.births is not None:
        s.births = args.births
    if args.leader_kills is not None:
        s.leader_kills = args.leader_kills
    return s


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    only = [o for o in args.only.split(",") if o]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        print(
            f"error: --only: unknown scenario(s) {unknown}; known: {list(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # a killed broker is the point
    run_dir = (
        args.run_dir or paths.REPO_ROOT / ".run" / time.strftime("chaos-%Y%m%d-%H%M%S")
    ).resolve()
    say = lambda text: print(f"[chaos] {text}", flush=True)  # noqa: E731
    with ExitStack() as stack:
        issuer = identity.issuer_or_keycloak(stack, run_dir, say)
        system = Stack(run_dir, issuer)
        stack.callback(system.stop)
        system.start(say)
        rows = run(system, settings_for(args), only, say)
    print(HEADER)
    for row in rows:
        print(line(row))
    failed = [r.scenario for r in rows if not r.passed]
    print(f"{len(rows) - len(failed)}/{len(rows)} scenarios passed; logs in {run_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
