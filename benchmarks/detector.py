"""Benchmark (not a test): the health-record anomaly detector's throughput next
to a raw kafka-python consumer's, on the same records in the same run, and the
detector's peak memory.

    .venv/bin/python benchmarks/detector.py --records 1000000    # make bench-detector

1. A broker: $KAFKA_BOOTSTRAP_SERVERS, or a local one (homeward.broker).
2. The topology under a fresh prefix.
3. N synthetic health records (consistent births, four records each, and a
   planted anomaly every --plant-every births, cycling through the rules),
   encoded with the codec in chunks and produced with kafka-python as fast as
   it goes (acks=1, large batches).
4. Each raw client of raw_clients.py (kafka-python, aiokafka, confluent-kafka;
   no group, no decoding) reads all N: records/s; the ratio is against the
   fastest.
5. `python -m homeward_detector` from the beginning: records/s until its
   consumer group has committed the end offsets of health.records.v1, its
   peak resident memory (VmHWM) and sampled VmRSS, and the anomalies raised.

Figures go to stdout and to .run/bench-detector-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from raw_clients import CLIENTS, consume_all

from homeward import paths
from homeward.actors import agency_actor
from homeward.broker import KafkaCluster
from homeward.codec import Codec
from homeward.events import HealthAnomalyDetected
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.admin import apply
from homeward.topology.model import DEVELOPMENT_ENV
from homeward_demo.processes import ServiceProcess
from homeward_health.recorder import SOURCE_PREFIX, key_of
from homeward_health.synthetic import Planted, stream

APP_ID = "homeward-detector"
CHUNK = 20_000


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench-detector", description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=1_000_000, help="health records to produce")
    p.add_argument("--plant-every", type=int, default=1000, help="births between planted anomalies")
    p.add_argument("--partitions", type=int, default=0, help="0: the topology's own")
    p.add_argument("--lateness", default="PT10S", help="HOMEWARD_DETECTOR_LATENESS")
    p.add_argument("--timeout", type=float, default=3600, help="seconds for the detector")
    p.add_argument("--run-dir", type=Path, default=None)
    return p.parse_args(argv)


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def produce(bootstrap: str, topic: str, n: int, plant_every: int) -> tuple[float, dict[str, str]]:
    """Encode and produce n records; the seconds it took and, for each planted
    anomaly, the event id of a record it must cite -> its rule."""
    codec = Codec()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks=1,
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    planted: dict[str, str] = {}
    proofs: dict[int, str] = {}  # id() of a planted proof record -> its rule
    # Births one second apart, ending now: every record inside every window.
    births = n // 4 + 1
    start = datetime.now(UTC) - timedelta(seconds=births) - timedelta(hours=10)
    sent = 0
    began = time.perf_counter()
    chunk: list[Any] = []

    timing = {"encode": 0.0, "send": 0.0}

    def flush_chunk() -> None:
        nonlocal sent
        t0 = time.perf_counter()
        encoded = []
        for r in chunk:
            eid = str(uuid.uuid4())
            if id(r) in proofs:
                planted[eid] = proofs.pop(id(r))
            # As the hospital SDK stamps it: the detector judges only records
            # whose actor is of the hospital they name (the rest are dead letters).
            r = r.model_copy(update={"actor": agency_actor(r.hospital_id, "health")})
            encoded.append(
                codec.encode(r, key=key_of(r), source=SOURCE_PREFIX + r.hospital_id, event_id=eid)[
                    0
                ]
            )
        t1 = time.perf_counter()
        for rec in encoded:
            producer.send(topic, key=rec.key, value=rec.value, headers=rec.headers)
        timing["encode"] += t1 - t0
        timing["send"] += time.perf_counter() - t1
        sent += len(encoded)
        chunk.clear()

    for item in stream(
        births, start=start, plant_every=plant_every, prefix="B", spread=timedelta(seconds=1)
    ):
        records = item.records if isinstance(item, Planted) else [item]
        if isinstance(item, Planted):
            if sent + len(chunk) + len(records) > n:
                break
            proofs.update((id(r), item.rule.value) for r in item.proof[:1])
        chunk.extend(records)
        if len(chunk) >= CHUNK or sent + len(chunk) >= n:
            del chunk[n - sent :]
            flush_chunk()
            if sent >= n:
                break
            if sent % 200_000 < CHUNK:
                say(f"  produced {sent:,}")
    producer.flush()
    producer.close()
    say(f"  encoding took {timing['encode']:.1f} s, sending {timing['send']:.1f} s")
    return time.perf_counter() - began, planted


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def memory_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(rest.split()[0])
    except OSError:
        pass
    return out


def committed(admin: KafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets (KafkaAdminClient.list_consumer_group_offsets;
    kafka-python 3 names it list_group_offsets and answers per group)."""
    try:
        if hasattr(admin, "list_consumer_group_offsets"):
            offsets = admin.list_consumer_group_offsets(group)
        else:
            offsets = admin.list_group_offsets({group: None}).get(group, {})
    except Exception as exc:  # the group may not have committed yet
        say(f"  no committed offsets yet: {type(exc).__name__}: {exc}")
        return {}
    return {tp: meta.offset for tp, meta in offsets.items()}


def read_anomalies(bootstrap: str, topic: str) -> list[HealthAnomalyDetected]:
    ends = end_offsets(bootstrap, topic)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None)
    consumer.assign(list(ends))
    consumer.seek_to_beginning()
    codec = Codec()
    found: dict[str, HealthAnomalyDetected] = {}
    left = {tp: end for tp, end in ends.items() if end > 0}
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500).items():
            for m in msgs:
                event = codec.decode(m.value, list(m.headers or [])).event
                if isinstance(event, HealthAnomalyDetected):
                    found.setdefault(event.case_id, event)
                if m.offset + 1 >= left.get(tp, 0):
                    left.pop(tp, None)
    consumer.close()
    return list(found.values())


def run_detector(
    args: argparse.Namespace,
    bootstrap: str,
    prefix: str,
    run_dir: Path,
    records_topic: str,
    index_topic: str,
) -> dict[str, Any]:
    ends = end_offsets(bootstrap, records_topic)
    group = f"{prefix}{APP_ID}"
    env = dict(
        os.environ,
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        HOMEWARD_TOPIC_PREFIX=prefix,
        PYTHONUNBUFFERED="1",
        F_DATADIR=str(run_dir / "faust-data"),
        HOMEWARD_DETECTOR_APP_ID=APP_ID,
        HOMEWARD_DETECTOR_LATENESS=args.lateness,
        HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS="1",
    )
    if args.partitions:
        env["HOMEWARD_TOPOLOGY_PARTITIONS"] = str(args.partitions)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    proc = ServiceProcess("detector", ["-m", "homeward_detector"], env, run_dir / "detector.log")
    spawned = time.perf_counter()
    with ExitStack() as stack:
        stack.callback(admin.close)
        stack.callback(proc.stop)
        proc.start("DETECTOR_READY", timeout=120)
        ready = time.perf_counter()
        assert proc.proc is not None
        pid = proc.proc.pid
        rss: list[int] = []
        last_report = ready
        while True:
            now = time.perf_counter()
            mem = memory_kb(pid)
            if "VmRSS" in mem:
                rss.append(mem["VmRSS"])
            done = committed(admin, group)
            if all(done.get(tp, -1) >= end for tp, end in ends.items()):
                break
            if not proc.running:
                raise RuntimeError(f"the detector exited (log {proc.log_path})")
            if now - ready > args.timeout:
                raise RuntimeError(f"the detector did not finish in {args.timeout:.0f}s")
            if now - last_report > 30:
                last_report = now
                got = sum(min(done.get(tp, 0), end) for tp, end in ends.items())
                say(
                    f"  detector committed {got:,}/{sum(ends.values()):,}, RSS {rss[-1] / 1024:.0f} MB"
                )
            time.sleep(0.5)
        finished = time.perf_counter()
        # The rules that join on a delivery or certificate run on the detector's
        # re-keyed copies (health.index.v1): count anomalies once those are read
        # too (bounded), then give the "missing" rules their lateness plus ticks.
        index_ends = end_offsets(bootstrap, index_topic)
        drain_by = time.monotonic() + 600
        while time.monotonic() < drain_by and proc.running:
            done = committed(admin, group)
            if all(done.get(tp, -1) >= end for tp, end in index_ends.items()):
                break
            mem = memory_kb(pid)
            if "VmRSS" in mem:
                rss.append(mem["VmRSS"])
            time.sleep(0.5)
        index_drained = time.perf_counter() - finished
        settle = time.monotonic() + 15
        while time.monotonic() < settle:
            mem = memory_kb(pid)
            if "VmRSS" in mem:
                rss.append(mem["VmRSS"])
            time.sleep(0.5)
        hwm = memory_kb(pid).get("VmHWM", 0)
    return {
        "seconds_from_ready": finished - ready,
        "seconds_from_spawn": finished - spawned,
        "startup_seconds": ready - spawned,
        "index_drained_after_seconds": index_drained,
        "peak_rss_mb": hwm / 1024,
        "rss_samples_mb": {
            "max": max(rss) / 1024 if rss else None,
            "last": rss[-1] / 1024 if rss else None,
            "count": len(rss),
        },
    }


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM stops the broker and the detector as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = (args.run_dir or paths.REPO_ROOT / ".run" / f"bench-detector-{stamp}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        if not bootstrap:
            say("starting a local Apache Kafka broker ...")
            os.environ[DEVELOPMENT_ENV] = "1"  # one broker, one replica (as the demo)
            cluster = KafkaCluster(run_dir=run_dir / "kafka").start()
            stack.callback(cluster.stop)
            bootstrap = cluster.bootstrap_servers
        figures = measure(args, bootstrap, run_dir)
    out = paths.REPO_ROOT / ".run" / f"bench-detector-{stamp}.json"
    out.write_text(json.dumps(figures, indent=2))
    print(render(figures), flush=True)
    say(f"figures in {out}")
    return 0


def run(bootstrap: str, run_dir: Path, records: int) -> dict[str, Any]:
    """The suite's entry (benchmarks/suite.py): `records` on the suite's broker."""
    return measure(parse(["--records", str(records)]), bootstrap, run_dir)


def measure(args: argparse.Namespace, bootstrap: str, run_dir: Path) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    topology = Topology.load(prefix=prefix)
    if args.partitions:
        topology = topology.with_partitions(args.partitions)
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    apply(topology, settings)
    topic = topology.get("health_records").name
    partitions = topology.get("health_records").partitions
    say(f"detector: broker {bootstrap}; topics under {prefix!r}; {topic}, {partitions} partitions")

    produce_s, planted = produce(bootstrap, topic, args.records, args.plant_every)
    ends = end_offsets(bootstrap, topic)
    n = sum(ends.values())
    say(
        f"  produced {n:,} records in {produce_s:.1f} s (encoding included): {n / produce_s:,.0f}/s"
    )

    # Each raw client reads all n (assigned, no group, no decoding); the
    # ratio is against the fastest of them (raw_clients.py).
    raw_by_client: dict[str, dict[str, Any]] = {}
    for client in CLIENTS:
        try:
            took = consume_all(client, settings, topic, partitions, n)
        except Exception as exc:  # a baseline that cannot run is reported, not fatal
            raw_by_client[client] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        raw_by_client[client] = {"seconds": took, "records_per_s": n / took}
        say(f"  raw {client} read {n:,} in {took:.1f} s: {n / took:,.0f}/s")
    timed = {c: r["seconds"] for c, r in raw_by_client.items() if "seconds" in r}
    best = min(timed, key=lambda c: timed[c])
    raw_s = timed[best]

    index_topic = topology.get("health_index").name
    det = run_detector(args, bootstrap, prefix, run_dir, topic, index_topic)
    anomalies = read_anomalies(bootstrap, topology.get("anomalies").name)
    by_rule = dict(sorted(Counter(a.rule.value for a in anomalies).items()))
    # A planted anomaly is found when one of its rule cites its proof record.
    cited = {(a.rule.value, e) for a in anomalies for e in a.evidence}
    found = Counter(rule for eid, rule in planted.items() if (rule, eid) in cited)
    planted_by_rule = Counter(planted.values())
    return {
        "records": n,
        "partitions": partitions,
        "produce_records_per_s": n / produce_s,
        "raw_client": best,
        "raw_by_client": raw_by_client,
        "raw_consumer_records_per_s": n / raw_s,
        "detector_records_per_s": n / det["seconds_from_ready"],
        "detector_records_per_s_from_spawn": n / det["seconds_from_spawn"],
        "ratio_detector_to_raw": raw_s / det["seconds_from_ready"],
        # The whole peak over the records read (an upper bound per record: the
        # windows' state grows with what is open, not with what was read).
        "peak_rss_bytes_per_record": det["peak_rss_mb"] * 1024 * 1024 / n,
        "detector": det,
        "anomalies_raised": len(anomalies),
        "anomalies_by_rule": by_rule,
        "planted": len(planted),
        "planted_by_rule": dict(sorted(planted_by_rule.items())),
        "planted_found": sum(found.values()),
        "planted_found_by_rule": dict(sorted(found.items())),
        "lateness": args.lateness,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def render(f: dict[str, Any]) -> str:
    rows = [
        ("records", f"{f['records']:,}"),
        (
            f"raw consumer records/s (fastest: {f['raw_client']})",
            f"{f['raw_consumer_records_per_s']:,.0f}",
        ),
        ("detector records/s", f"{f['detector_records_per_s']:,.0f}"),
        ("ratio detector/raw", f"{f['ratio_detector_to_raw']:.3f}"),
        ("detector peak RSS MB", f"{f['detector']['peak_rss_mb']:.0f}"),
        ("planted anomalies found", f"{f['planted_found']} of {f['planted']}"),
        ("anomalies raised in all", f"{f['anomalies_raised']}"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", "=== bench-detector ==="]
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines.append(
        "anomalies by rule: "
        + (", ".join(f"{k} {v}" for k, v in f["anomalies_by_rule"].items()) or "none")
    )
    lines.append(
        "planted by rule:   " + ", ".join(f"{k} {v}" for k, v in f["planted_by_rule"].items())
    )
    lines.append(
        "found by rule:     " + ", ".join(f"{k} {v}" for k, v in f["planted_found_by_rule"].items())
    )
    lines.append(
        "(a planted mother mismatch also has no delivery of the mother it names,"
        " so rule 1 is raised on it too)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
