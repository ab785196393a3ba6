"""`python -m fuzz.api [--examples N] [--api intake|gateway ...]`: schemathesis
against intake's and the gateway's live OpenAPI, with real bearer tokens.

Starts what the two services need itself, as the demo does: the project's
Keycloak (the Homeward realm), one secured Kafka broker from its jars (SCRAM,
deny by default, every service its own principal), the topology, then intake
and the gateway as their own processes. Then, per API, the schemathesis CLI
reads `<url>/openapi.json` and runs its examples, coverage and fuzzing phases
with the checks below; fuzz.api_hooks puts a token on each request (of a
principal allowed to call that route) and counts what was sent. The run ends
with a table and exit status 1 if any check failed. docs/fuzzing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
APIS = ("intake", "gateway")
# A live stream never ends, so a request to it never returns: its status, content
# type and refusals are the integration tests' (tests/integration/test_gateway*.py).
EXCLUDED = {"gateway": ["/v1/inbox/stream"], "intake": []}


def say(text: str) -> None:
    print(f"[fuzz.api] {text}", flush=True)


def start_stack(stack: ExitStack, run_dir: Path) -> dict[str, str]:
    """Keycloak, a broker, the topology, intake and the gateway; their base URLs
    and the issuer. Everything is stopped when `stack` closes."""
    from homeward.broker import KafkaCluster
    from homeward.settings import KafkaSettings
    from homeward.topology import Topology
    from homeward.topology.admin import apply
    from homeward.topology.model import DEVELOPMENT_ENV
    from homeward_demo import identity
    from homeward_demo.processes import ServiceProcess, create_identities

    t0 = time.monotonic()
    keycloak = identity.spawn_keycloak(run_dir / "keycloak")  # its start overlaps the broker's
    stack.callback(keycloak.stop)
    os.environ[DEVELOPMENT_ENV] = "1"  # one broker: one replica
    cluster = KafkaCluster(run_dir=run_dir / "kafka", security="scram").start()
    stack.callback(cluster.stop)
    assert cluster.security is not None
    admin = KafkaSettings(
        bootstrap_servers=cluster.bootstrap_servers, **cluster.security.admin_env_kw()
    )
    topology = Topology.load(prefix="")
    apply(topology, admin)
    kafka = create_identities(admin, topology)
    keycloak.wait_ready()
    say(f"Kafka at {cluster.bootstrap_servers}, Keycloak at {keycloak.issuer}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEWARD_", "KAFKA_", "F_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=cluster.bootstrap_servers,
        HOMEWARD_TOPOLOGY_DEVELOPMENT="1",
        HOMEWARD_OIDC_ISSUER=keycloak.issuer,
        HOMEWARD_INTAKE_PORT="0",
        HOMEWARD_GATEWAY_PORT="0",
        HOMEWARD_GATEWAY_LOG_LEVEL="WARNING",
        # The tip line's flood control would answer nearly every generated tip 429 and
        # hide what lies behind it; its limits are the unit tests' (test_flood_and_forms).
        HOMEWARD_GATEWAY_TIPS_PER_CLIENT="1000000/minute",
        HOMEWARD_GATEWAY_TIPS_GLOBAL_LIMIT="1000000/minute",
        PYTHONUNBUFFERED="1",
    )
    urls = {"issuer": keycloak.issuer}
    for name, ready in (("intake", "INTAKE_READY"), ("gateway", "GATEWAY_READY")):
        svc = ServiceProcess(
            name, ["-m", f"homeward_{name}"], kafka.env(env, name), run_dir / f"{name}.log"
        )
        stack.callback(svc.stop)
        svc.start(ready)
        urls[name] = svc.ready_line().split()[-1]
        say(f"{name} at {urls[name]} (log {svc.log_path})")
    say(f"stack up in {time.monotonic() - t0:.0f} s")
    return urls


def run_schemathesis(
    api: str, url: str, issuer: str, out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One schemathesis CLI run against `url`; its figures, from its JSON report
    and the hooks' count of requests."""
    counts = out / f"{api}-requests.json"
    report = out / f"{api}-report.json"
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--checks", ",".join(CHECKS),
        "--phases", args.phases,
        "--max-examples", str(args.examples),
        "--workers", str(args.workers),
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--continue-on-failure",
        "--report", "json,junit",
        "--report-dir", str(out),
        "--report-json-path", str(report),
        "--report-junit-path", str(out / f"{api}-junit.xml"),
        "--warnings", "off",
        *([f"--seed={args.seed}"] if args.seed is not None else []),
        *(arg for path in EXCLUDED[api] for arg in ("--exclude-path", path)),
    ]  # fmt: skip
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="fuzz.api_hooks",
        HOMEWARD_FUZZ_API=api,
        HOMEWARD_OIDC_ISSUER=issuer,
        HOMEWARD_FUZZ_COUNTS=str(counts),
    )
    log = out / f"{api}-schemathesis.log"
    t0 = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    wall = time.monotonic() - t0
    by_status: dict[str, int] = {}
    requests = 0
    if counts.exists():
        for key, n in json.loads(counts.read_text(encoding="utf-8")).items():
            status = key.rsplit(" ", 1)[1]
            by_status[status] = by_status.get(status, 0) + n
            requests += n
    return {
        "api": api,
        "exit": proc.returncode,
        "requests": requests,
        "by_status": dict(sorted(by_status.items())),
        "wall_seconds": wall,
        "log": str(log),
        "report": str(report),
        "counts": str(counts),
    }


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        "| API | requests | by status | 5xx | schemathesis exit | wall s |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        statuses = ", ".join(f"{s}: {n:,}" for s, n in r["by_status"].items())
        fives = sum(n for s, n in r["by_status"].items() if s.startswith("5"))
        rows.append(
            f"| {r['api']} | {r['requests']:,} | {statuses} | {fives} | {r['exit']} "
            f"| {r['wall_seconds']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz.api", description=__doc__.split("\n\n")[0])
    p.add_argument("--api", action="append", choices=APIS, help="default: both")
    p.add_argument(
        "--examples", type=int, default=int(os.environ.get("FUZZ_API_EXAMPLES") or 200),
        help="schemathesis --max-examples: per operation and phase (FUZZ_API_EXAMPLES; 200)",
    )  # fmt: skip
    p.add_argument("--phases", default="examples,coverage,fuzzing")
    p.add_argument("--workers", type=int, default=1, help="concurrent requests (a shared machine)")
    p.add_argument("--seed", type=int)
    p.add_argument("--run-dir", type=Path, help="default .run/fuzz-api-<time>")
    args = p.parse_args(argv)
    from homeward import paths

    run_dir = (
        args.run_dir or paths.REPO_ROOT / ".run" / time.strftime("fuzz-api-%Y%m%d-%H%M%S")
    ).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with ExitStack() as stack:
        urls = start_stack(stack, run_dir)
        for api in args.api or APIS:
            say(f"schemathesis against {api} ({urls[api]}/openapi.json), {args.examples} examples")
            results.append(run_schemathesis(api, urls[api], urls["issuer"], run_dir, args))
            r = results[-1]
            say(f"{api}: {r['requests']:,} requests, exit {r['exit']} (log {r['log']})")
    print(table(results))
    (run_dir / "summary.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    say(f"everything in {run_dir}")
    return 1 if any(r["exit"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
