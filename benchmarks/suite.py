"""Homeward's benchmark suite (not a test): each benchmark beside its raw
baseline, measured in the same run, against the targets of the operators'
issue. `make bench` (BENCH_ARGS="--quick" for the small sizes).

    .venv/bin/python benchmarks/suite.py [--quick] [--only codec,fanout,pipeline,detector]

- codec:    Homeward's encode / decode vs raw fastavro on the same records
            (bench_codec.py);
- fan-out:  one alert to 100 / 1,000 / 10,000 / 100,000 agencies in range, p50 / p99 from
            intake accepting to the last inbox write, vs the fastest raw
            client producing the same records (bench_fanout.py);
- pipeline: sustained events/s through intake, the fan-out and an agency's
            subscriber vs a raw produce-then-consume, intake's accept rate,
            and each alert's latency to the agency under the 32-client burst
            (bench_pipeline.py);
- memory:   each service process's peak resident memory under that load;
- detector: the anomaly detector over 1,000,000 health records vs the raw
            clients reading them (detector.py, also `make bench-detector`);
- directory: 500 km ring and nearest-of-type queries on a synthetic national
            directory of 1,000,000 agencies (homeward.spatial) vs scipy's cKDTree
            ball query and the old scan of every agency (bench_directory.py).

A real broker: $KAFKA_BOOTSTRAP_SERVERS, or one from homeward.broker; every
benchmark on its own topic prefix. Prints a table of target / measured / met,
and writes benchmarks/results/<time>-<mode>.json and .png, copied to
latest.json / .png (a whole, unprofiled run at the full sizes), latest-quick.*
or latest-partial.*. Service logs (and, with --profile, cProfile
output of each service) go to .run/bench-<time>/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bench_codec
import bench_directory
import bench_fanout
import bench_pipeline
import detector
import report
from _common import machine, say, start_broker, start_identity

from homeward import paths

RESULTS = Path(__file__).resolve().parent / "results"
ALL = ("codec", "directory", "fanout", "pipeline", "detector")
FULL = {
    "codec_n": 20_000,
    "directory_n": 1_000_000,
    "sizes": "100,1000,10000,100000",
    "alerts": 10,
    "events": 3_000,
    "health_records": 1_000_000,
}
QUICK = {
    "codec_n": 2_000,
    "directory_n": 100_000,
    "sizes": "100,1000",
    "alerts": 3,
    "events": 300,
    "health_records": 20_000,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, for development")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {ALL}")
    p.add_argument("--sizes", help="fan-out: agencies in range, comma-separated")
    p.add_argument("--alerts", type=int, help="fan-out: measured alerts per size")
    p.add_argument("--events", type=int, help="pipeline: alerts sent through")
    p.add_argument(
        "--threads", type=int, default=32, help="pipeline: client threads (the burst's 32)"
    )
    p.add_argument("--health-records", type=int, help="detector: health records read")
    p.add_argument("--codec-n", type=int, help="codec: records per timed round")
    p.add_argument("--directory-n", type=int, help="directory: synthetic agencies")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the services under cProfile (figures then include its overhead)",
    )
    p.add_argument("--profile-codec", action="store_true", help="print where the codec's time goes")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="measure nothing: print the table of an earlier run's JSON and redraw its .png",
    )
    args = p.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.only = [o.strip() for o in args.only.split(",") if o.strip()]
    unknown = set(args.only) - set(ALL)
    if unknown:
        p.error(f"unknown benchmark(s): {sorted(unknown)}")
    return args


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.render:
        earlier: dict[str, Any] = json.loads(args.render.read_text(encoding="utf-8"))
        earlier["targets"] = report.targets(earlier)
        report.chart(earlier, args.render.with_suffix(".png"))
        print(report.render(earlier), flush=True)
        return 0
    # SIGTERM stops the broker and the services as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    mode = "quick" if args.quick else "full"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = (paths.REPO_ROOT / ".run" / f"bench-{stamp}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {"mode": mode, "started": stamp, "machine": machine()}
    if "codec" in args.only:
        say(f"codec: {args.codec_n:,} records per round, best of 5")
        figures["codec"] = bench_codec.run(n=args.codec_n, repeat=5)
        if args.profile_codec:
            print(bench_codec.profile(), flush=True)
    if "directory" in args.only:
        say(f"directory: {args.directory_n:,} synthetic agencies, 200 rings and nearest queries")
        figures["directory"] = bench_directory.run(args.directory_n)
    if {"fanout", "pipeline", "detector"} & set(args.only):
        with ExitStack() as stack:
            tokens = start_identity(stack, run_dir)
            bootstrap = start_broker(stack, run_dir)
            say(f"broker {bootstrap}; logs in {run_dir}")
            if "fanout" in args.only:
                sizes = [int(s) for s in str(args.sizes).split(",")]
                figures["fanout"] = bench_fanout.run(
                    bootstrap, run_dir, sizes, args.alerts, tokens, profile=args.profile
                )
            if "pipeline" in args.only:
                figures["pipeline"] = bench_pipeline.run(
                    bootstrap, run_dir, args.events, args.threads, tokens, profile=args.profile
                )
            if "detector" in args.only:
                figures["detector"] = detector.run(bootstrap, run_dir, args.health_records)
    if args.profile:
        for prof in sorted(run_dir.glob("*.prof")):
            (prof.with_suffix(".prof.txt")).write_text(profile_text(prof))
        say(f"profiles: {run_dir}/*.prof.txt (pstats; the .prof files open in snakeviz)")
    figures["finished"] = time.strftime("%Y-%m-%d %H:%M")
    figures["profiled"] = args.profile
    figures["targets"] = report.targets(figures)
    args.results.mkdir(parents=True, exist_ok=True)
    base = args.results / f"{stamp}-{mode}"
    report.write_json(figures, base.with_suffix(".json"))
    report.chart(figures, base.with_suffix(".png"))
    # Only a whole run at the full sizes is "the latest figures" (docs/benchmarks.md).
    whole = (
        set(args.only) == set(ALL)
        and not args.profile
        and all(getattr(args, k) == FULL[k] for k in FULL)
    )
    latest = "latest-quick" if args.quick else "latest" if whole else "latest-partial"
    for ext in (".json", ".png"):
        shutil.copyfile(base.with_suffix(ext), args.results / f"{latest}{ext}")
    print(report.render(figures), flush=True)
    say(f"figures in {base}.json and .png (also {latest}.json / .png)")
    return 0


def profile_text(path: Path, top: int = 30) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    out.write(f"=== {path.name}: by internal time\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"=== {path.name}: by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
