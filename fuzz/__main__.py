"""`python -m fuzz [--budget CPU_SECONDS] [--json PATH] [TARGET ...]`: each target in
its own process, one after the other (the machine is shared), then a table.

A child that overruns its wall-clock limit (three times its CPU budget, plus a
margin) is killed and counted as hung (a loop in C that the per-input timer
cannot interrupt); one that dies by a signal (a segfault) is a crash. The exit status is 1 when any target
had a crash or a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fuzz.targets import TARGETS

MARGIN_SECONDS = 120.0
# The budget is CPU seconds; on a busy machine a target gets less than a core,
# so its wall-clock limit (which catches a loop in C) allows for that.
WALL_PER_CPU_SECOND = 3.0


def run_child(name: str, budget: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result_path = Path(out.name)
    cmd = [sys.executable, "-m", "fuzz.worker", name, str(budget), str(result_path)]
    try:
        proc = subprocess.run(
            cmd, timeout=budget * WALL_PER_CPU_SECOND + MARGIN_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return {"target": name, "hangs": 1, "crashes": 0, "examples": 0, "note": "killed: overran"}
    if proc.returncode != 0 or not result_path.stat().st_size:
        return {"target": name, "crashes": 1, "hangs": 0, "examples": 0,
                "note": f"worker exited {proc.returncode}"}  # fmt: skip
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    return result


def table(results: list[dict[str, Any]]) -> str:
    head = "| target | examples | CPU s | wall s | typed errors | crashes | hangs | slowest input |"
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(
            f"| {r['target']} | {r.get('examples', 0):,} | {r.get('cpu_seconds', 0):.0f} "
            f"| {r.get('wall_seconds', 0):.0f} | {r.get('typed_errors', 0):,} | {r['crashes']} "
            f"| {r['hangs']} | {1000 * r.get('slowest_seconds', 0):.1f} ms |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("targets", nargs="*", help=f"default: all of {sorted(TARGETS)}")
    parser.add_argument(
        "--budget", type=float, default=float(os.environ.get("FUZZ_BUDGET") or 600),
        help="CPU seconds per target (FUZZ_BUDGET; default 600)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write every figure and finding here")
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    results = []
    for name in names:
        print(f"fuzzing {name} for {args.budget:.0f} CPU s: {TARGETS[name].about}", flush=True)
        results.append(run_child(name, args.budget))
        for f in results[-1].get("findings", []):
            print(
                f"  {f['kind']} x{f['count']}: {f['error']} at {f['where']}\n    input: {f['input']}"
            )
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return 1 if any(r["crashes"] or r["hangs"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
