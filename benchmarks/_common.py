"""What the benchmarks of suite.py share: a broker, a private slice of it per
benchmark, services as child processes, their memory, and the machine."""

from __future__ import annotations

import os
import platform
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from homeward.broker import KafkaCluster, kafka_version
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.admin import apply
from homeward.topology.model import DEVELOPMENT_ENV
from homeward_agency.fleet import quantile
from homeward_demo import identity
from homeward_demo.processes import ServiceProcess

__all__ = ["Slice", "quantile"]

# Where the synthetic alerts were "last seen": a fictional point; every agency
# of a benchmark directory lies within the first ring (100 km) around it.
CENTRE = (30.0, 104.0)


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def start_broker(stack: ExitStack, run_dir: Path) -> str:
    """$KAFKA_BOOTSTRAP_SERVERS, or a local broker from the project's harness."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if bootstrap:
        return bootstrap
    say("starting a local Apache Kafka broker (homeward.broker) ...")
    # One broker holds one replica: the development floor, for the benchmark's topics
    # and the services' own (Faust's changelogs), as the demo does.
    os.environ[DEVELOPMENT_ENV] = "1"
    cluster = KafkaCluster(run_dir=run_dir / "kafka").start()
    stack.callback(cluster.stop)
    return cluster.bootstrap_servers


def start_identity(stack: ExitStack, run_dir: Path) -> Any:
    """$HOMEWARD_OIDC_ISSUER, or the project's embedded Keycloak (every intake caller
    is authenticated, benchmarks included); the police system's token provider.
    The services started later inherit the issuer from this process's environment."""
    issuer = identity.issuer_or_keycloak(stack, run_dir, say)
    os.environ["HOMEWARD_OIDC_ISSUER"] = issuer
    return identity.Identities(issuer, identity.realm_secrets()).police()


def police_case(tag: str) -> str:
    """A case id in the police system's own namespace (intake refuses any other)."""
    return f"{identity.POLICE_AGENCY}-BENCH-{tag}"


@dataclass(frozen=True)
class Slice:
    """The whole topology under a prefix of its own, so runs never meet."""

    bootstrap: str
    prefix: str
    topology: Topology
    settings: KafkaSettings

    @classmethod
    def fresh(cls, bootstrap: str, tag: str) -> Slice:
        prefix = f"bench-{tag}-{uuid.uuid4().hex[:6]}."
        topology = Topology.load(prefix=prefix)
        settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
        apply(topology, settings)
        return cls(bootstrap, prefix, topology, settings)

    def topic(self, topic_id: str) -> str:
        return self.topology.get(topic_id).name

    def env(self, run_dir: Path, name: str, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
            HOMEWARD_TOPIC_PREFIX=self.prefix,
            PYTHONUNBUFFERED="1",
            # Faust keeps scratch data in the working directory unless told otherwise.
            F_DATADIR=str(run_dir / f"{name}.faust-data"),
        )
        env.update(extra)
        return env


def start_service(
    stack: ExitStack,
    name: str,
    module_args: Sequence[str],
    env: dict[str, str],
    run_dir: Path,
    marker: str,
    *,
    profile: bool = False,
    on_line: Any = None,
) -> ServiceProcess:
    """`python -m <module_args>` as its own process (stopped with the stack).

    With profile, it runs under cProfile (_profiled.py) and leaves
    <name>.prof in run_dir."""
    args = list(module_args)
    if profile:
        assert args[0] == "-m", "only modules are profiled"
        args = [str(Path(__file__).with_name("_profiled.py")), str(run_dir / f"{name}.prof")]
        args += module_args[1:]
    proc = ServiceProcess(name, args, env, run_dir / f"{name}.log", on_line=on_line)
    proc.start(marker, timeout=120)
    stack.callback(proc.stop, 60 if profile else 20)
    return proc


def memory_mb(proc: ServiceProcess) -> dict[str, float]:
    """Peak (VmHWM, the kernel's own high-water mark) and current resident MB."""
    out: dict[str, float] = {}
    if proc.proc is None:
        return out
    try:
        for line in Path(f"/proc/{proc.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out["peak_rss_mb" if key == "VmHWM" else "rss_mb"] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return out


ERROR_MARKS = ("[ERROR]", " ERROR ", "Traceback", "Crashed")
# Logged at start while the broker elects the group coordinator; harmless.
BENIGN = ("GroupCoordinatorNotAvailableError",)


def log_errors(proc: ServiceProcess, limit: int = 8) -> list[str]:
    """The first error lines a service logged (a benchmark that only looked at
    its figures would miss a worker that crashed half-way)."""
    found: list[str] = []
    for line in proc.lines:
        if any(m in line for m in ERROR_MARKS) and not any(b in line for b in BENIGN):
            text = line.strip()[:300]
            if text not in found:
                found.append(text)
            if len(found) >= limit:
                break
    return found


def crashed(errors: list[str]) -> bool:
    return any("Crashed" in e or "Traceback" in e for e in errors)


def partitions(consumer: KafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    parts: list[TopicPartition] = []
    for topic in topics:
        deadline = time.monotonic() + 30
        found = consumer.partitions_for_topic(topic)
        while not found and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
            found = consumer.partitions_for_topic(topic)
        if not found:
            raise RuntimeError(f"topic {topic} not found")
        parts += [TopicPartition(topic, p) for p in sorted(found)]
    return parts


def reader(settings: KafkaSettings, **overrides: Any) -> KafkaConsumer:
    """A plain consumer with no group: reads what it is assigned, commits nothing."""
    opts: dict[str, Any] = {
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # kafka-python checks CRCs in pure Python unless the crc32c package is
        # installed (it is not a dependency); the broker checked them on the way in.
        "check_crcs": False,
        **settings.kafka_python(),
    }
    opts.update(overrides)
    return KafkaConsumer(**opts)


def stats_ms(values: Sequence[float]) -> dict[str, Any]:
    return {
        "p50": quantile(values, 0.5),
        "p99": quantile(values, 0.99),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "n": len(values),
        "all": [round(v, 2) for v in values],
    }


def sustained(times: Sequence[float]) -> float | None:
    """Events per second over the middle 80% of arrival times (seconds): the
    rate once the first have gone through and before the last stragglers."""
    ordered = sorted(times)
    n = len(ordered)
    lo, hi = n // 10, (9 * n) // 10 - 1
    if hi <= lo or ordered[hi] <= ordered[lo]:
        return None
    return (hi - lo) / (ordered[hi] - ordered[lo])


def timestamps(settings: KafkaSettings, topic: str, since_ms: float) -> list[float]:
    """Record timestamps (seconds) on `topic` at or after since_ms, read to its end."""
    consumer = reader(settings)
    try:
        parts = partitions(consumer, [topic])
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning()
        out: list[float] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(
            consumer.position(tp) < end for tp, end in ends.items()
        ):
            for msgs in consumer.poll(timeout_ms=500, max_records=100_000).values():
                out += [m.timestamp / 1000 for m in msgs if m.timestamp >= since_ms]
        return out
    finally:
        consumer.close()


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        kafka = kafka_version()
    except Exception:  # an external broker: its version is not ours to know
        kafka = "external"
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "kafka": kafka,
        "load_average_at_start": os.getloadavg(),
    }
