"""The suite's figures against the issue's targets: a table, JSON and a chart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The targets of the scale issue (13); 1,000 agencies' p99 is the earlier
# speed issue's and stays as a guard.
MB_LIMIT = 100.0
P99_LIMIT_MS = {1_000: 1_000.0, 10_000: 500.0, 100_000: 3_000.0}
RAW_RATIO_LIMIT = 1.5
PIPELINE_RATIO = 0.5
INTAKE_ACCEPT_PER_S = 2_000.0
BURST_P99_MS = 1_000.0
DETECTOR_RATIO = 0.25
CODEC_RATIO = 0.9
RING_P99_MS = 20.0
NEAREST_P99_MS = 2.0


# Targets the suite has no benchmark for yet: printed, so the table is the
# whole list (docs/benchmarks.md, "Where the remaining gaps are").
NOT_MEASURED = (
    (
        "one alert to 100,000 agencies on 2 and 4 fan-out workers",
        "one case's deliveries are "
        "written by the worker that owns the case; sharding them is not built",
    ),
    (
        "gateway: one alert to 10,000 connected agencies, SSE and webhook p99 <= 1 s",
        "no benchmark yet",
    ),
)


def _row(what: str, target: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"what": what, "target": target, "measured": measured, "met": met}


def targets(f: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target the issue sets, for what this run measured."""
    rows = []
    codec = f.get("codec")
    if codec:
        for r in codec["records"]:
            worst = min(r["ratio_encode"], r["ratio_decode"])
            rows.append(
                _row(
                    f"codec {r['record']}: encode / decode vs raw fastavro",
                    f">= {CODEC_RATIO:.2f}x raw",
                    f"{r['ratio_encode']:.2f} / {r['ratio_decode']:.2f}",
                    worst >= CODEC_RATIO,
                )
            )
    d = f.get("directory")
    if d:
        ring = d["ring_500km"]
        rows.append(
            _row(
                f"directory of {d['agencies']:,}: 500 km ring p99",
                f"<= {RING_P99_MS:.0f} ms",
                f"{ring['cells_ms']['p99']:.1f} ms ({ring['in_ring_p50']:,} in ring; "
                f"cKDTree {ring['kdtree_ms']['p99']:.0f}, scan {ring['scan_ms']['p99']:,.0f} ms)",
                ring["cells_ms"]["p99"] <= RING_P99_MS,
            )
        )
        rows.append(
            _row(
                f"directory of {d['agencies']:,}: nearest of a type p99",
                f"<= {NEAREST_P99_MS:.0f} ms",
                f"{d['nearest_ms']['p99']:.2f} ms (excluding those asked: "
                f"{d['nearest_excluding_ms']['p99']:.2f}); index {d['index_mb']:.0f} MB",
                max(d["nearest_ms"]["p99"], d["nearest_excluding_ms"]["p99"]) <= NEAREST_P99_MS,
            )
        )
    for s in (f.get("fanout") or {}).get("sizes", []):
        n = s["agencies"]
        p99 = s["latency_ms"]["p99"]
        if n in P99_LIMIT_MS:
            limit = P99_LIMIT_MS[n]
            rows.append(
                _row(
                    f"fan-out to {n:,}: p99 accepted -> last inbox write"
                    + (f" ({s.get('workers', 1)} worker)" if n >= 100_000 else ""),
                    f"<= {limit:,.0f} ms",
                    (f"{p99:,.0f} ms" if p99 is not None else s["error"] or "none")
                    + (" (service crashed)" if s.get("crashed") else ""),
                    p99 is not None and p99 <= limit and not s["error"] and not s.get("crashed"),
                )
            )
        ratio = s.get("ratio_p50")
        rows.append(
            _row(
                f"fan-out to {n:,}: p50 vs fastest raw produce",
                f"<= {RAW_RATIO_LIMIT:.1f}x raw",
                f"{ratio:.2f}x ({s['latency_ms']['p50']:,.0f} / {s['raw_produce_ms']['p50']:,.0f} ms"
                f" {s.get('raw_client') or 'kafka-python'})"
                if ratio is not None
                else s["error"] or "none",
                ratio is not None and ratio <= RAW_RATIO_LIMIT,
            )
        )
    pipe = f.get("pipeline")
    if pipe:
        ratio = pipe.get("ratio")
        rows.append(
            _row(
                "pipeline: sustained events/s vs fastest raw produce+consume",
                f">= {PIPELINE_RATIO:.2f}x raw",
                (
                    f"{ratio:.3f}x ({pipe['sustained_per_s']:,.0f} / {pipe['raw']['per_s']:,.0f}/s"
                    f" {pipe['raw'].get('client') or 'kafka-python'})"
                    if ratio is not None
                    else pipe["error"] or "none"
                )
                + (" (service crashed)" if pipe.get("crashed") else ""),
                ratio is not None and ratio >= PIPELINE_RATIO and not pipe.get("crashed"),
            )
        )
    if pipe:
        accepted = pipe.get("intake_accepted_per_s")
        rows.append(
            _row(
                f"intake: alerts accepted/s ({pipe['threads']} clients, idempotency keys)",
                f">= {INTAKE_ACCEPT_PER_S:,.0f}/s",
                f"{accepted:,.0f}/s" if accepted else pipe["error"] or "none",
                accepted is not None and accepted >= INTAKE_ACCEPT_PER_S,
            )
        )
        burst = (pipe.get("receive_latency_ms") or {}).get("p99")
        rows.append(
            _row(
                f"burst of {pipe['events']:,} from {pipe['threads']} clients: accepted -> "
                "agency p99",
                f"<= {BURST_P99_MS:,.0f} ms",
                f"{burst:,.0f} ms" if burst is not None else pipe["error"] or "none",
                burst is not None and burst <= BURST_P99_MS,
            )
        )
    det = f.get("detector")
    if det:
        ratio = det["ratio_detector_to_raw"]
        rows.append(
            _row(
                f"detector on {det['records']:,} records vs fastest raw consumer",
                f">= {DETECTOR_RATIO:.2f}x raw",
                f"{ratio:.3f}x ({det['detector_records_per_s']:,.0f} / "
                f"{det['raw_consumer_records_per_s']:,.0f}/s {det['raw_client']}); "
                f"{det['detector']['peak_rss_mb']:.0f} MB peak",
                ratio >= DETECTOR_RATIO,
            )
        )
    for what, why in NOT_MEASURED:
        rows.append(_row(what, "see docs/benchmarks.md", f"not measured: {why}", None))
    for name, mem in memory(f).items():
        peak = mem.get("peak_rss_mb")
        rows.append(
            _row(
                f"peak RSS: {name}",
                f"<= {MB_LIMIT:.0f} MB",
                f"{peak:.0f} MB" if peak is not None else "not measured",
                peak is not None and peak <= MB_LIMIT,
            )
        )
    return rows


def memory(f: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each service process measured, under the pipeline's load and the largest fan-out."""
    out: dict[str, dict[str, float]] = {}
    for name, mem in ((f.get("pipeline") or {}).get("memory") or {}).items():
        out[f"{name} (pipeline)"] = mem
    sizes = (f.get("fanout") or {}).get("sizes") or []
    if sizes:
        big = max(sizes, key=lambda s: s["agencies"])
        for name, mem in big["memory"].items():
            out[f"{name} (fan-out to {big['agencies']:,})"] = mem
    return out


def render(f: dict[str, Any]) -> str:
    rows = [{**r, "measured": _clip(r["measured"])} for r in f["targets"]]
    heads = ("target", "measured", "met")
    w0 = max(len(r["what"]) for r in rows) if rows else 10
    w1 = max([len(heads[0])] + [len(r["target"]) for r in rows])
    w2 = max([len(heads[1])] + [len(r["measured"]) for r in rows])
    lines = ["", f"=== Homeward benchmark suite ({f['mode']}) ==="]
    m = f["machine"]
    lines.append(
        f"machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"Kafka {m['kafka']}; load average at start {m['load_average_at_start'][0]:.2f}"
    )
    lines.append(f"{'':{w0}}  {heads[0]:{w1}}  {heads[1]:{w2}}  {heads[2]}")
    for r in rows:
        met = "-" if r["met"] is None else "yes" if r["met"] else "NO"
        lines.append(f"{r['what']:{w0}}  {r['target']:{w1}}  {r['measured']:{w2}}  {met}")
    lines += details(f)
    return "\n".join(lines)


def details(f: dict[str, Any]) -> list[str]:
    out = []
    codec = f.get("codec")
    if codec:
        out.append("")
        out.append(f"codec ops/s (best of {codec['repeat']} x {codec['n']:,}):")
        for r in codec["records"]:
            o = r["ops_per_s"]
            out.append(
                f"  {r['record']:<22} {r['value_bytes']:>4} B  encode {o['homeward_encode']:>8,}"
                f" (wire {o['wire_encode']:>8,}, raw {o['raw_encode']:>8,})  decode "
                f"{o['homeward_decode']:>8,} (wire {o['wire_decode']:>8,}, raw {o['raw_decode']:>8,})"
            )
    fo = f.get("fanout")
    if fo:
        out.append("")
        out.append("fan-out, ms from intake accepting to the last inbox write (first write):")
        for s in fo["sizes"]:
            lat, raw, first = s["latency_ms"], s["raw_produce_ms"], s["first_write_ms"]
            out.append(
                f"  {s['agencies']:>6,} agencies x {s['alerts']} alerts: p50 {_ms(lat['p50'])}"
                f" p99 {_ms(lat['p99'])} (first {_ms(first['p50'])}; cold {_ms(s['cold_ms'])});"
                f" raw produce p50 {_ms(raw['p50'])} p99 {_ms(raw['p99'])}"
                + (f"  ERROR {s['error']}" if s["error"] else "")
            )
            for client, r in (s.get("raw_by_client_ms") or {}).items():
                out.append(
                    f"      raw {client:<16} p50 {_ms(r['p50'])} p99 {_ms(r['p99'])}"
                    + ("  (fastest)" if client == s.get("raw_client") else "")
                    + (f"  ERROR {r['error']}" if r.get("error") else "")
                )
            out += _logged(s)
    pipe = f.get("pipeline")
    if pipe:
        raw = pipe["raw"]
        out.append("")
        out.append(
            f"pipeline, {pipe['events']:,} alerts ({pipe['threads']} client threads): sustained "
            f"{_rate(pipe.get('sustained_per_s'))}/s, end to end {_rate(pipe.get('end_to_end_per_s'))}/s,"
            f" intake accepted {_rate(pipe.get('intake_accepted_per_s'))}/s; raw produce "
            f"{raw['produce_per_s']:,.0f}/s, consume {raw['consume_per_s']:,.0f}/s, together "
            f"{raw['per_s']:,.0f}/s ({raw.get('client') or 'kafka-python'})"
            + (f"  ERROR {pipe['error']}" if pipe["error"] else "")
        )
        for client, r in (raw.get("by_client") or {}).items():
            out.append(
                f"      raw {client:<16} "
                + (
                    f"produce {r['produce_per_s']:,.0f}/s, consume {r['consume_per_s']:,.0f}/s, "
                    f"together {r['per_s']:,.0f}/s"
                    if "per_s" in r
                    else f"ERROR {r.get('error')}"
                )
            )
        out.append(
            "  stages, sustained: "
            + ", ".join(f"{k} {_rate(v)}/s" for k, v in (pipe.get("stages_per_s") or {}).items())
        )
        burst = pipe.get("receive_latency_ms")
        if burst:
            out.append(
                f"  accepted -> shown by the agency's subscriber: p50 {_ms(burst['p50'])}"
                f" p99 {_ms(burst['p99'])} ms"
            )
        out += _logged(pipe)
    det = f.get("detector")
    if det:
        out.append("")
        out.append(
            f"detector, {det['records']:,} health records ({det['partitions']} partitions): "
            f"{det['detector_records_per_s']:,.0f}/s; peak RSS {det['detector']['peak_rss_mb']:.0f}"
            f" MB ({det['peak_rss_bytes_per_record']:.0f} B per record read); planted anomalies "
            f"found {det['planted_found']} of {det['planted']}"
        )
        for client, r in det["raw_by_client"].items():
            out.append(
                f"      raw {client:<16} "
                + (
                    f"{r['records_per_s']:,.0f}/s"
                    if "records_per_s" in r
                    else f"ERROR {r['error']}"
                )
                + ("  (fastest)" if client == det["raw_client"] else "")
            )
    return out


def _clip(text: str, width: int = 52) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _logged(section: dict[str, Any]) -> list[str]:
    return [
        f"    {svc} logged: {line[:160]}"
        for svc, lines in (section.get("service_errors") or {}).items()
        for line in lines[:2]
    ]


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def write_json(f: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(f, indent=2, default=str) + "\n", encoding="utf-8")


def chart(f: dict[str, Any], path: Path) -> None:
    """Four panels, each Homeward beside its raw baseline and the target."""
    import matplotlib

    matplotlib.use("Agg")  # no display here, nor in CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    panels: list[Callable[[Any, dict[str, Any]], None]] = [
        _codec_panel,
        _fanout_panel,
        _pipeline_panel,
        _memory_panel,
    ]
    for ax, panel in zip(axes.flat, panels, strict=True):
        panel(ax, f)
    m = f["machine"]
    fig.suptitle(
        f"Homeward benchmarks ({f['mode']}, {f['finished']}) - {m['cpus']} CPUs, "
        f"Python {m['python']}, Kafka {m['kafka']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _codec_panel(ax: Any, f: dict[str, Any]) -> None:
    codec = f.get("codec")
    ax.set_title("codec: Homeward / raw fastavro (ops/s ratio)")
    if not codec:
        ax.set_axis_off()
        return
    names = [r["record"] for r in codec["records"]]
    xs = range(len(names))
    width = 0.2
    series = [
        ("encode", "ratio_encode"),
        ("decode", "ratio_decode"),
        ("wire encode", "ratio_wire_encode"),
        ("wire decode", "ratio_wire_decode"),
    ]
    for i, (label, key) in enumerate(series):
        ax.bar(
            [x + (i - 1.5) * width for x in xs],
            [r[key] for r in codec["records"]],
            width,
            label=label,
        )
    ax.axhline(CODEC_RATIO, color="red", linestyle="--", label=f"target {CODEC_RATIO}")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("x raw")
    ax.legend(fontsize=8)


def _fanout_panel(ax: Any, f: dict[str, Any]) -> None:
    sizes = (f.get("fanout") or {}).get("sizes") or []
    ax.set_title("fan-out: accepted -> last inbox write (ms)")
    if not sizes:
        ax.set_axis_off()
        return
    labels = [f"{s['agencies']:,}" for s in sizes]
    xs = range(len(sizes))
    width = 0.2
    series = [
        ("fan-out p50", [s["latency_ms"]["p50"] or 0 for s in sizes]),
        ("fan-out p99", [s["latency_ms"]["p99"] or 0 for s in sizes]),
        ("raw produce p50", [s["raw_produce_ms"]["p50"] or 0 for s in sizes]),
        ("raw produce p99", [s["raw_produce_ms"]["p99"] or 0 for s in sizes]),
    ]
    for i, (label, values) in enumerate(series):
        ax.bar([x + (i - 1.5) * width for x in xs], values, width, label=label)
    for x, s in zip(xs, sizes, strict=True):
        limit = P99_LIMIT_MS.get(s["agencies"])
        if limit:
            ax.hlines(limit, x - 0.45, x + 0.45, colors="red", linestyles="--")
        if s["error"] or s.get("crashed"):
            note = "fan-out crashed" if s.get("crashed") else s["error"]
            ax.annotate(
                note, (x, 0.05), xycoords=("data", "axes fraction"), ha="center", color="red"
            )
    ax.set_yscale("log")
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("agencies in range (red: p99 target)")
    ax.set_ylabel("ms (log)")
    ax.legend(fontsize=8, loc="upper left")


def _pipeline_panel(ax: Any, f: dict[str, Any]) -> None:
    pipe = f.get("pipeline")
    ax.set_title("pipeline: events/s")
    if not pipe or not pipe.get("sustained_per_s"):
        ax.set_axis_off()
        return
    raw = pipe["raw"]
    labels = [
        "intake -> fan-out\n-> subscriber",
        "raw produce\n+ consume",
        "raw produce",
        "raw consume",
    ]
    values = [pipe["sustained_per_s"], raw["per_s"], raw["produce_per_s"], raw["consume_per_s"]]
    ax.bar(labels, values, color=["tab:blue", "tab:gray", "tab:gray", "tab:gray"])
    ax.axhline(PIPELINE_RATIO * raw["per_s"], color="red", linestyle="--", label="target: 0.5x raw")
    ax.set_yscale("log")
    ax.set_ylabel("events/s (log)")
    ax.legend(fontsize=8)


def _memory_panel(ax: Any, f: dict[str, Any]) -> None:
    mem = memory(f)
    ax.set_title("peak resident memory (MB)")
    if not mem:
        ax.set_axis_off()
        return
    names = list(mem)
    peaks = [m.get("peak_rss_mb", 0.0) for m in mem.values()]
    ax.barh(names, peaks)
    for name, peak in zip(names, peaks, strict=True):
        if not peak:
            ax.annotate("not measured (process exited)", (2, name), va="center", color="red")
    ax.axvline(MB_LIMIT, color="red", linestyle="--", label=f"target <= {MB_LIMIT:.0f} MB")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
