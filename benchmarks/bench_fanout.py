"""Fan-out: one alert to N agencies in range, from intake accepting it to the
last inbox write, next to raw kafka-python producing the same N records.

Per size, on a fresh slice of the broker:
1. a synthetic directory of N plainly fake agencies of every type, all within
   90 km of the alert's last-seen point (inside the first 100 km ring);
2. the inbox topics switched to LogAppendTime, so each record's timestamp is
   the broker's own time of the write, not the producer's time of the send;
3. `python -m homeward_fanout` and `python -m homeward_intake` as processes;
4. one warm-up alert (its latency is kept apart as `cold_ms`), then `alerts`
   alerts one at a time through intake's HTTP API (IntakeClient), each
   waited for (inbox end offsets grew by N) before the next;
5. latency per alert = the latest LogAppendTime among its N deliveries
   (found by their ce_causationid header) minus intake's accepted_at
   (the alert's ce_time, the same clock);
6. raw: the N delivery records of the first measured alert, as bytes,
   produced again by each raw client of raw_clients.py (kafka-python,
   aiokafka, confluent-kafka; acks=all like the fan-out's producer, linger
   5 ms, 256 KiB batches) to the same inbox partitions: send all, flush; two
   untimed rounds first, then `alerts` timed rounds. The ratios are against
   the fastest client's p50, which the figures name.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from contextlib import ExitStack
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
)
from bench_codec import sample_alert
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from raw_clients import CLIENTS, fastest, produce_rounds, settings_note

from homeward.agencies import Agency, AgencyType, dump_directory
from homeward.geo import haversine_km
from homeward_intake.client import IntakeClient

BIG_ALERTS = 3


def write_directory(n: int, path: Path, *, spread_km: float = 90.0) -> None:
    """n fictional agencies of rotating types, scattered within spread_km of CENTRE."""
    rng = random.Random(n)
    types = list(AgencyType)
    km_per_deg_lon = 111.2 * math.cos(math.radians(CENTRE[0]))
    agencies = []
    for i in range(n):
        d = spread_km * math.sqrt(rng.random())
        b = rng.uniform(0, 2 * math.pi)
        lat = CENTRE[0] + d * math.cos(b) / 111.2
        lon = CENTRE[1] + d * math.sin(b) / km_per_deg_lon
        agencies.append(
            Agency(
                id=f"BENCH-{i:06d}",
                type=types[i % len(types)],
                name_zh=f"测试机构{i:06d}",
                name_en=f"Benchmark Test Agency {i:06d}",
                latitude=round(lat, 6),
                longitude=round(lon, 6),
                admin_code=f"990{i:06d}",
            )
        )
    assert all(haversine_km(*CENTRE, a.latitude, a.longitude) < 100 for a in agencies)
    dump_directory(agencies, path)


def log_append_time(sl: Slice, topics: list[str]) -> None:
    admin = KafkaAdminClient(**sl.settings.kafka_python())
    try:
        admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    t,
                    configs={"message.timestamp.type": "LogAppendTime"},
                )
                for t in topics
            ],
            # kafka-python's list of dynamic topic configs lacks this one.
            raise_on_unknown=False,
        )
    finally:
        admin.close()


def causation(headers: list[tuple[str, bytes]] | None) -> str:
    for k, v in headers or ():
        if k == "ce_causationid":
            return v.decode()
    return ""


def run_size(
    bootstrap: str,
    run_dir: Path,
    size: int,
    alerts: int,
    tokens: Any,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    # 100,000 deliveries an alert: fewer alerts keep the run (and the raw
    # clients' rounds of the same records) within minutes.
    alerts = alerts if size < 100_000 else min(alerts, BIG_ALERTS)
    say(f"fan-out to {size:,} agencies: {alerts} alerts (+1 warm-up)")
    with ExitStack() as stack:
        sl = Slice.fresh(bootstrap, f"fo{size}")
        inboxes = [sl.topology.inbox(t).name for t in AgencyType]
        log_append_time(sl, inboxes)
        directory = run_dir / f"agencies-{size}.csv"
        write_directory(size, directory)
        name = f"fanout-{size}"
        fanout = start_service(
            stack,
            name,
            ["-m", "homeward_fanout"],
            sl.env(
                run_dir,
                name,
                HOMEWARD_FANOUT_DIRECTORY=str(directory),
                # Nobody acknowledges here: no resend may fall inside the run.
                HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS="86400",
            ),
            run_dir,
            "FANOUT_READY",
            profile=profile,
        )
        intake = start_service(
            stack,
            f"intake-fo{size}",
            ["-m", "homeward_intake"],
            sl.env(run_dir, "intake", HOMEWARD_INTAKE_PORT="0"),
            run_dir,
            "INTAKE_READY",
        )
        client = IntakeClient(intake.ready_line().split()[-1], timeout=30, token_provider=tokens)
        stack.callback(client.close)
        consumer = reader(sl.settings, max_partition_fetch_bytes=8 * 1024 * 1024)
        stack.callback(consumer.close)
        parts = partitions(consumer, inboxes)
        base = consumer.end_offsets(parts)
        written = sum(base.values())
        sent: list[tuple[str, float]] = []  # (event id, accepted_at epoch ms)
        error = ""
        for i in range(alerts + 1):
            acc = client.issue_alert(
                sample_alert(police_case(f"FO{size}-{i:03d}-{sl.prefix[-7:-1]}"))
            )
            sent.append((acc.event_id, acc.accepted_at.timestamp() * 1000))
            target = written + size
            deadline = time.monotonic() + 60 + size / 100
            while sum(consumer.end_offsets(parts).values()) < target:
                if not fanout.running:
                    error = "the fan-out exited"
                elif time.monotonic() > deadline:
                    error = f"alert {i} not fully delivered in time"
                if error:
                    break
                time.sleep(0.02)
            if error:
                say(f"  {error} (log {fanout.log_path})")
                break
            written = target
        mem = {"fanout": memory_mb(fanout), "intake": memory_mb(intake)}
        logged = {"fanout": log_errors(fanout), "intake": log_errors(intake)}
        ends = consumer.end_offsets(parts)
        per_alert = read_deliveries(consumer, base, ends, {eid for eid, _ in sent[1:2]})
    by_id = per_alert["by_id"]
    lat = [by_id[eid]["last"] - ms for eid, ms in sent[1:] if eid in by_id]
    first = [by_id[eid]["first"] - ms for eid, ms in sent[1:] if eid in by_id]
    counts = [by_id.get(eid, {}).get("count", 0) for eid, _ in sent[1:]]
    cold = by_id[sent[0][0]]["last"] - sent[0][1] if sent and sent[0][0] in by_id else None
    records = per_alert["records"]
    by_client = raw_produce(sl, records, alerts) if records else {}
    timed = {c: r["p50"] for c, r in by_client.items() if r.get("p50") is not None}
    best = fastest(timed) if timed else None
    raw = by_client[best] if best else stats_ms([])
    out: dict[str, Any] = {
        "agencies": size,
        "workers": 1,
        "alerts": len(lat),
        "deliveries_per_alert": counts,
        "latency_ms": stats_ms(lat),
        "first_write_ms": stats_ms(first),
        "cold_ms": cold,
        "raw_produce_ms": raw,
        "raw_client": best,
        "raw_by_client_ms": by_client,
        "memory": mem,
        "error": error,
        "service_errors": logged,
        "crashed": crashed(logged["fanout"]) or crashed(logged["intake"]),
    }
    if lat and best:
        out["ratio_p50"] = out["latency_ms"]["p50"] / out["raw_produce_ms"]["p50"]
        out["ratio_p99"] = out["latency_ms"]["p99"] / out["raw_produce_ms"]["p99"]
    for svc, lines in logged.items():
        for line in lines[:3]:
            say(f"  {svc} logged: {line[:200]}")
    say(
        f"  {size:,}: p50 {out['latency_ms']['p50']} ms, p99 {out['latency_ms']['p99']} ms; "
        f"raw produce p50 {out['raw_produce_ms']['p50']} ms ({best}); fan-out RSS peak "
        f"{mem['fanout'].get('peak_rss_mb', 0):.0f} MB"
    )
    return out


def read_deliveries(
    consumer: Any, base: dict[Any, int], ends: dict[Any, int], keep: set[str]
) -> dict[str, Any]:
    """Per causing event id: deliveries, first and last LogAppendTime; and the
    records (topic, key, value, headers) of the events in `keep`."""
    consumer.assign(list(ends))
    for tp, offset in base.items():
        consumer.seek(tp, offset)
    by_id: dict[str, dict[str, float]] = defaultdict(
        lambda: {"count": 0, "first": float("inf"), "last": 0.0}
    )
    records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
    left = {tp for tp, end in ends.items() if end > base[tp]}
    deadline = time.monotonic() + 120
    while left and time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=500, max_records=50_000).items():
            for m in msgs:
                if m.offset >= ends[tp]:
                    continue
                eid = causation(m.headers)
                d = by_id[eid]
                d["count"] += 1
                d["first"] = min(d["first"], m.timestamp)
                d["last"] = max(d["last"], m.timestamp)
                if eid in keep:
                    records.append((tp.topic, m.key, m.value, list(m.headers or [])))
            if consumer.position(tp) >= ends[tp]:
                left.discard(tp)
    return {"by_id": dict(by_id), "records": records}


def raw_produce(
    sl: Slice, records: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]], rounds: int
) -> dict[str, dict[str, Any]]:
    """Each raw client's round times (ms) producing the same records; a client
    that fails is reported with its error and left out of the comparison."""
    out: dict[str, dict[str, Any]] = {}
    for client in CLIENTS:
        try:
            took = produce_rounds(client, sl.settings, records, rounds)
        except Exception as exc:  # a baseline that cannot run is reported, not fatal
            say(f"  raw {client}: {type(exc).__name__}: {exc}")
            out[client] = {**stats_ms([]), "error": f"{type(exc).__name__}: {exc}"}
            continue
        out[client] = stats_ms([t * 1000 for t in took])
    return out


def run(
    bootstrap: str,
    run_dir: Path,
    sizes: list[int],
    alerts: int,
    tokens: Any,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    """`tokens`: the police system's token provider (intake authenticates every call)."""
    return {
        "sizes": [run_size(bootstrap, run_dir, s, alerts, tokens, profile=profile) for s in sizes],
        "raw_producer": settings_note(),
    }
