"""Pipeline: sustained events per second through intake, the fan-out (a Faust
service) and an agency's subscriber, against the fastest raw client's
produce-then-consume of the same records; and each service's peak memory.

On a fresh slice of the broker, with a directory of one police agency at the
alerts' last-seen point (so one alert is one delivery) and a coordination
office out of range:
1. `python -m homeward_intake`, `python -m homeward_fanout` and the reference
   subscriber `python -m homeward_agency --agency-id ... --json` (the SDK's
   Subscriber: reads, de-duplicates, prints, acknowledges, commits), each its
   own process; the subscriber's acknowledgements flow back to the fan-out.
2. A warm-up of `warmup` alerts, then `events` alerts POSTed to intake by
   `threads` client threads (IntakeClient: an Idempotency-Key per call, as
   every real client sends); the time of each JSON line the subscriber
   prints is taken as that delivery's arrival, and that time less the
   alert's `accepted_at` as its latency (the 32-client burst's p99).
3. Sustained rate: the middle 80% of deliveries (10th to 90th percentile of
   arrival) over the time they took; end to end: all of them over first
   request to last arrival.
4. Peak resident memory (VmHWM) of each of the three processes.
5. Raw: the same `events` alert records (as intake wrote them, bytes)
   produced by each raw client of raw_clients.py (kafka-python, aiokafka,
   confluent-kafka) to a topic of its own with as many partitions, then read
   back by the same client: events / (produce seconds + consume seconds).
   The ratio is against the fastest, which the figures name.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    CENTRE,
    Slice,
    crashed,
    log_errors,
    memory_mb,
    partitions,
    police_case,
    reader,
    say,
    start_service,
    stats_ms,
    sustained,
    timestamps,
)
from bench_codec import sample_alert
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from raw_clients import (
    CLIENTS,
    WARM_ROUNDS,
    consume_all,
    fastest,
    produce_rounds,
    settings_note,
)

from homeward.agencies import Agency, AgencyType, dump_directory
from homeward_intake.client import IntakeClient

AGENCY_ID = "BENCH-POL-00001"


def write_directory(path: Path) -> None:
    dump_directory(
        [
            Agency(
                id=AGENCY_ID,
                type=AgencyType.POLICE,
                name_zh="测试公安局",
                name_en="Benchmark Test Police Station",
                latitude=CENTRE[0],
                longitude=CENTRE[1],
                admin_code="990000001",
            ),
            Agency(
                id="BENCH-OFFICE-1",
                type=AgencyType.COORDINATION_OFFICE,
                name_zh="测试联席会议办公室",
                name_en="Benchmark Test Coordination Office",
                latitude=CENTRE[0] + 9.0,  # about 1,000 km away: never in range
                longitude=CENTRE[1],
                admin_code="990000002",
            ),
        ],
        path,
    )


class Arrivals:
    """Times the subscriber's JSON lines arrive (one per delivery shown)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        # Intake's acceptance to the line, ms: the same machine's clock.
        self.latencies_ms: list[float] = []
        self._grew = threading.Condition()

    def on_line(self, line: str) -> None:
        if line.startswith("{"):
            shown = time.time()
            accepted = json.loads(line).get("data", {}).get("accepted_at")
            with self._grew:
                self.times.append(time.perf_counter())
                if accepted:
                    self.latencies_ms.append(
                        (shown - datetime.fromisoformat(accepted).timestamp()) * 1000
                    )
                self._grew.notify_all()

    def wait_for(self, count: int, timeout: float, alive: Any) -> bool:
        deadline = time.monotonic() + timeout
        with self._grew:
            while len(self.times) < count:
                left = deadline - time.monotonic()
                if left <= 0 or not alive():
                    return False
                self._grew.wait(min(left, 1.0))
        return True


def run(
    bootstrap: str,
    run_dir: Path,
    events: int,
    threads: int,
    tokens: Any,
    *,
    warmup: int = 20,
    profile: bool = False,
) -> dict[str, Any]:
    say(f"pipeline: {events:,} alerts through intake -> fan-out -> subscriber ({threads} threads)")
    sl = Slice.fresh(bootstrap, "pipe")
    directory = run_dir / "agencies-pipeline.csv"
    write_directory(directory)
    arrivals = Arrivals()
    error = ""
    with ExitStack() as stack:
        fanout = start_service(
            stack,
            "fanout-pipeline",
            ["-m", "homeward_fanout"],
            sl.env(run_dir, "fanout-pipeline", HOMEWARD_FANOUT_DIRECTORY=str(directory)),
            run_dir,
            "FANOUT_READY",
            profile=profile,
        )
        intake = start_service(
            stack,
            "intake-pipeline",
            ["-m", "homeward_intake"],
            sl.env(run_dir, "intake", HOMEWARD_INTAKE_PORT="0"),
            run_dir,
            "INTAKE_READY",
            profile=profile,
        )
        agency = start_service(
            stack,
            "agency-pipeline",
            ["-m", "homeward_agency", "--json", "--agency-id", AGENCY_ID, "--agency-type=police"],
            sl.env(run_dir, "agency"),
            run_dir,
            " reading ",
            profile=profile,
            on_line=arrivals.on_line,
        )
        procs = {"intake": intake, "fanout": fanout, "agency": agency}

        def alive() -> bool:
            return all(p.running for p in procs.values())

        client = IntakeClient(intake.ready_line().split()[-1], timeout=30, token_provider=tokens)
        stack.callback(client.close)
        for i in range(warmup):
            client.issue_alert(sample_alert(police_case(f"PW-{i:05d}-{sl.prefix[-7:-1]}")))
        if not arrivals.wait_for(warmup, 120, alive):
            raise RuntimeError(f"warm-up alerts did not reach the subscriber (logs in {run_dir})")
        alerts = [sample_alert(police_case(f"P-{i:06d}-{sl.prefix[-7:-1]}")) for i in range(events)]
        began_ms = time.time() * 1000
        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(client.issue_alert, alerts))
        requests_done = time.perf_counter()
        if not arrivals.wait_for(warmup + events, 120 + events / 5, alive):
            error = f"{len(arrivals.times) - warmup} of {events} deliveries arrived"
            say(f"  {error} (logs in {run_dir})")
        mem = {name: memory_mb(p) for name, p in procs.items()}
        logged = {name: log_errors(p) for name, p in procs.items()}
    times = arrivals.times[warmup:]
    out: dict[str, Any] = {"events": events, "threads": threads, "warmup": warmup}
    if times:
        out["delivered"] = len(times)
        out["end_to_end_per_s"] = len(times) / (times[-1] - began)
        out["sustained_per_s"] = sustained(times)
        out["intake_accepted_per_s"] = events / (requests_done - began)
        out["seconds"] = times[-1] - began
        out["receive_latency_ms"] = stats_ms(arrivals.latencies_ms[warmup:])
    # Each stage's own sustained rate, from the timestamps of what it wrote: the
    # slowest one is what holds the pipeline back.
    out["stages_per_s"] = {
        "intake (alerts written)": sustained(
            timestamps(sl.settings, sl.topic("alert_events"), began_ms)
        ),
        "fan-out (deliveries written)": sustained(
            timestamps(sl.settings, sl.topology.inbox(AgencyType.POLICE).name, began_ms)
        ),
        "subscriber (acknowledgements written)": sustained(
            timestamps(sl.settings, sl.topic("alert_acks"), began_ms)
        ),
        "subscriber (deliveries shown)": out.get("sustained_per_s"),
    }
    out["memory"] = mem
    out["error"] = error
    out["service_errors"] = logged
    out["crashed"] = any(crashed(v) for v in logged.values())
    for svc, lines in logged.items():
        for line in lines[:3]:
            say(f"  {svc} logged: {line[:200]}")
    out["raw"] = raw_produce_consume(sl, events)
    if out.get("sustained_per_s"):
        out["ratio"] = out["sustained_per_s"] / out["raw"]["per_s"]
    say(
        f"  sustained {out.get('sustained_per_s') or 0:,.0f}/s, raw {out['raw']['per_s']:,.0f}/s; "
        + ", ".join(f"{k} {v.get('peak_rss_mb', 0):.0f} MB" for k, v in mem.items())
    )
    return out


def raw_produce_consume(sl: Slice, events: int) -> dict[str, Any]:
    """Produce-then-consume the last `events` alert records intake wrote, with
    plain kafka-python, through a topic partitioned like the alerts topic."""
    source = sl.topology.get("alert_events")
    consumer = reader(sl.settings)
    parts = partitions(consumer, [source.name])
    ends = consumer.end_offsets(parts)
    consumer.assign(parts)
    consumer.seek_to_beginning()
    records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]] = []
    while sum(consumer.position(tp) for tp in parts) < sum(ends.values()):
        for msgs in consumer.poll(timeout_ms=500).values():
            records += [(m.key, m.value, list(m.headers or [])) for m in msgs]
    consumer.close()
    records = records[-events:]
    by_client: dict[str, dict[str, Any]] = {}
    for client in CLIENTS:
        try:
            by_client[client] = _raw_round(sl, client, source, records)
        except Exception as exc:  # a baseline that cannot run is reported, not fatal
            say(f"  raw {client}: {type(exc).__name__}: {exc}")
            by_client[client] = {"error": f"{type(exc).__name__}: {exc}"}
    rates = {c: r["per_s"] for c, r in by_client.items() if "per_s" in r}
    best = fastest(rates, higher_is_better=True)
    return {**by_client[best], "client": best, "by_client": by_client, "producer": settings_note()}


def _raw_round(
    sl: Slice, client: str, source: Any, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
) -> dict[str, Any]:
    """One client: produce the records to a topic of its own (after its untimed
    warm-up rounds), then read every round back."""
    topic = f"{sl.prefix}bench.raw.{client}.v1"
    admin = KafkaAdminClient(**sl.settings.kafka_python())
    try:
        admin.create_topics([NewTopic(topic, source.partitions, source.replication)])
    finally:
        admin.close()
    produced = produce_rounds(client, sl.settings, [(topic, k, v, h) for k, v, h in records], 1)[0]
    n, written = len(records), len(records) * (WARM_ROUNDS + 1)
    consumed = consume_all(client, sl.settings, topic, source.partitions, written)
    produce_per_s, consume_per_s = n / produced, written / consumed
    return {
        "records": n,
        "produce_s": produced,
        "consume_s": n / consume_per_s,
        "produce_per_s": produce_per_s,
        "consume_per_s": consume_per_s,
        # events / (produce seconds + consume seconds), per event.
        "per_s": 1 / (1 / produce_per_s + 1 / consume_per_s),
    }
