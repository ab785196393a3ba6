"""The system under fault: a 3-broker KRaft cluster on loopback (SCRAM, deny by
default, replication 3, min ISR 2) and Homeward's services as their own
processes, each as its own Kafka principal, as in production."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError

from homeward import paths
from homeward.agencies import Agency, DeliveryMode, load_directory
from homeward.broker import KafkaCluster
from homeward.settings import KafkaSettings
from homeward.topology import Topology
from homeward.topology.admin import apply
from homeward.topology.model import PRODUCTION_MIN_ISR, PRODUCTION_REPLICATION
from homeward.webhook_signing import Secret
from homeward_demo.identity import POLICE_AGENCY, Identities, realm_secrets
from homeward_demo.processes import KafkaIdentities, ServiceProcess, create_identities

#: The agency whose SDK subscriber runs as a process (its output is counted).
SUBSCRIBER_AGENCY = POLICE_AGENCY
#: An agency's webhook endpoint as its own process, verifying with the reference
#: `standardwebhooks` package and fsyncing each delivery before its 2xx.
RECEIVER = paths.REPO_ROOT / "tests" / "integration" / "webhook_receiver.py"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    principal: str
    ready: str
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        # A path is a script (the webhook receiver), anything else a module.
        if self.module.endswith(".py"):
            return [self.module, *self.args]
        return ["-m", self.module, *self.args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """Start with `start()`, stop with `stop()`; `kill(name)` / `restart(name)` a service,
    `kill_leader(topic)` a broker."""

    def __init__(
        self,
        run_dir: Path,
        issuer: str,
        *,
        directory: Path | None = None,
        gateway: bool = True,
    ) -> None:
        """`gateway`: run the agency gateway and a webhook receiver for the directory's
        webhook agencies (every row then owes their webhooks too)."""
        self.run_dir = run_dir
        self.issuer = issuer.rstrip("/")
        self.directory = directory or paths.demo_directory_file()
        self.agencies: list[Agency] = list(load_directory(self.directory))
        self.cluster = KafkaCluster(nodes=3, run_dir=run_dir / "kafka", security="scram")
        self.identities = Identities(self.issuer, realm_secrets())
        self.intake_port = _free_port()
        # Fixed across restarts: the receiver's URL is in the gateway's registry.
        self.gateway_port = _free_port()
        self.receiver_port = _free_port()
        self.webhook_secret = Secret.generate()
        self.with_gateway = gateway
        self.webhook_agencies = sorted(
            a.id for a in self.agencies if gateway and a.delivery_mode is DeliveryMode.WEBHOOK
        )
        self.services: dict[str, ServiceProcess] = {}
        self.specs: dict[str, ServiceSpec] = {}
        self.topology: Topology | None = None
        self.kafka: KafkaIdentities | None = None
        self._lock = threading.Lock()
        # Faults run here, beside the load, on one thread that lives as long as the stack:
        # a broker started again forks with PR_SET_PDEATHSIG, which fires when the
        # forking *thread* ends (a short-lived thread's restart would die with it).
        self.faults = ThreadPoolExecutor(1, thread_name_prefix="chaos-fault")

    # -- life cycle ----------------------------------------------------------------------
    def start(self, say: Callable[[str], None] = print) -> Stack:
        t0 = time.monotonic()
        self.cluster.start()
        assert self.cluster.security is not None
        admin = KafkaSettings(
            bootstrap_servers=self.cluster.bootstrap_servers,
            **self.cluster.security.admin_env_kw(),
        )
        # Production sizing whatever the caller's environment says (the test run is a
        # development harness for its single broker; this cluster is not).
        self.topology = Topology.load(prefix="").with_replication(
            PRODUCTION_REPLICATION, PRODUCTION_MIN_ISR
        )
        apply(self.topology, admin)
        self.kafka = create_identities(admin, self.topology)
        say(
            f"3 brokers at {self.cluster.bootstrap_servers}, topics rf={PRODUCTION_REPLICATION} "
            f"min ISR {PRODUCTION_MIN_ISR}, {len(self.kafka.passwords)} principals "
            f"({time.monotonic() - t0:.0f} s)"
        )
        for spec in self._specs():
            self.specs[spec.name] = spec
        self._wait_credentials({sp.principal for sp in self.specs.values() if sp.principal})
        # Side by side: each Faust worker's start is mostly waiting for its group.
        with ThreadPoolExecutor(len(self.specs)) as pool:
            list(pool.map(self.launch, self.specs))
        say(f"services ready: {', '.join(self.specs)} ({time.monotonic() - t0:.0f} s)")
        return self

    def _wait_credentials(self, principals: set[str], timeout: float = 90) -> None:
        """Until every principal authenticates on every broker. A SCRAM user reaches each
        broker through the metadata log; on a loaded machine a broker can still refuse it
        seconds after it was created, and a service that meets "invalid credentials"
        stops, as it should (seen: the subscriber, at its first commit)."""
        principals = principals | {"health"}  # the hospital SDK's, in the health bursts

        def check(principal: str, broker: str) -> None:
            opts = {**self.settings(principal).kafka_python(), "bootstrap_servers": [broker]}
            deadline = time.monotonic() + timeout
            while True:
                try:
                    consumer = KafkaConsumer(group_id=None, **opts)
                    consumer.topics()
                    consumer.close()
                    return
                except KafkaError:
                    if time.monotonic() > deadline:
                        raise
                    # the next try is the wait: each failed one takes its own timeout

        brokers = self.cluster.bootstrap_servers.split(",")
        pairs = [(p, b) for p in sorted(principals) for b in brokers]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda pb: check(*pb), pairs))

    def stop(self) -> None:
        for svc in list(self.services.values()):
            svc.stop()
        self.cluster.stop()
        self.faults.shutdown(wait=False, cancel_futures=True)

    @property
    def admin(self) -> KafkaSettings:
        assert self.kafka is not None
        return self.kafka.admin

    def settings(self, principal: str) -> KafkaSettings:
        assert self.kafka is not None
        return self.kafka.settings(principal)

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}"

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("HOMEWARD_", "KAFKA_", "F_"))
        }
        env.update(
            KAFKA_BOOTSTRAP_SERVERS=self.cluster.bootstrap_servers,
            HOMEWARD_TOPIC_PREFIX="",
            HOMEWARD_TOPOLOGY_REPLICATION=str(PRODUCTION_REPLICATION),
            HOMEWARD_TOPOLOGY_MIN_ISR=str(PRODUCTION_MIN_ISR),
            HOMEWARD_OIDC_ISSUER=self.issuer,
            PYTHONUNBUFFERED="1",
        )
        return env

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def receiver_log(self) -> Path:
        """What the webhook receiver took: one JSON line per verified request."""
        return self.run_dir / "webhooks-received.jsonl"

    def _webhook_registry(self) -> Path:
        """Every webhook agency of the directory at the one receiver (its own path each),
        the secret by `file:` reference, as a site keeps it."""
        secret_file = self.run_dir / "webhook-secret"
        secret_file.write_text(self.webhook_secret.serialize() + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
        base = f"http://127.0.0.1:{self.receiver_port}/hooks"
        doc = {
            "endpoints": {
                a: {"url": f"{base}/{a}", "secrets": [f"file:{secret_file}"]}
                for a in self.webhook_agencies
            }
        }
        path = self.run_dir / "webhooks.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=True), encoding="utf-8")
        return path

    def _specs(self) -> list[ServiceSpec]:
        d = str(self.directory)
        return [*(self._gateway_specs() if self.with_gateway else ()), *self._stream_specs(d)]

    def _gateway_specs(self) -> list[ServiceSpec]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.receiver_log.touch()
        return [
            ServiceSpec(
                "receiver",
                str(RECEIVER),
                "",  # no Kafka client
                "RECEIVER_READY",
                {},
                (
                    "--port",
                    str(self.receiver_port),
                    "--secret",
                    self.webhook_secret.serialize(),
                    "--out",
                    str(self.receiver_log),
                ),
            ),
            ServiceSpec(
                "gateway",
                "homeward_gateway",
                "gateway",
                "GATEWAY_READY",
                {
                    "HOMEWARD_GATEWAY_PORT": str(self.gateway_port),
                    "HOMEWARD_GATEWAY_WEBHOOKS_REGISTRY_FILE": str(self._webhook_registry()),
                    # Quick retries: a try refused while the receiver is busy comes back
                    # within a second, not a minute; and nothing dead-letters in a row.
                    "HOMEWARD_GATEWAY_WEBHOOKS_BACKOFF_BASE_SECONDS": "0.2",
                    "HOMEWARD_GATEWAY_WEBHOOKS_BACKOFF_CAP_SECONDS": "2",
                    "HOMEWARD_GATEWAY_WEBHOOKS_MAX_ATTEMPTS": "100",
                    "HOMEWARD_GATEWAY_WEBHOOKS_COMMIT_INTERVAL_SECONDS": "0.5",
                },
            ),
        ]

    def _stream_specs(self, d: str) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                "intake",
                "homeward_intake",
                "intake",
                "INTAKE_READY",
                {"HOMEWARD_INTAKE_PORT": str(self.intake_port)},
            ),
            ServiceSpec(
                "fanout",
                "homeward_fanout",
                "fanout",
                "FANOUT_READY",
                {
                    "HOMEWARD_FANOUT_DIRECTORY": d,
                    "HOMEWARD_FANOUT_CLOCK_SPEED": "1",
                    # Acknowledgements are the subscriber's and the agencies' own; no
                    # resend falls due during a scenario.
                    "HOMEWARD_FANOUT_ACK_TIMEOUT_SECONDS": "3600",
                    "HOMEWARD_FANOUT_TICK_INTERVAL_SECONDS": "0.5",
                },
            ),
            ServiceSpec(
                "referrals",
                "homeward_referrals",
                "referrals",
                "REFERRALS_READY",
                {
                    "HOMEWARD_REFERRALS_DIRECTORY": d,
                    "HOMEWARD_REFERRALS_TICK_INTERVAL_SECONDS": "0.5",
                },
            ),
            ServiceSpec(
                "detector",
                "homeward_detector",
                "detector",
                "DETECTOR_READY",
                {
                    "HOMEWARD_DETECTOR_LATENESS": "PT4S",
                    "HOMEWARD_DETECTOR_TICK_INTERVAL_SECONDS": "0.5",
                },
            ),
            ServiceSpec(
                "subscriber",
                "homeward_agency",
                "police",
                "reading",
                {},
                (
                    "--agency-id",
                    SUBSCRIBER_AGENCY,
                    "--agency-type",
                    "police",
                    "--json",
                    "--state-dir",
                    str(self.run_dir / "agency-state"),
                ),
            ),
        ]

    def launch(self, name: str) -> ServiceProcess:
        spec = self.specs[name]
        assert self.kafka is not None
        datadir = self.run_dir / "faust" / name
        datadir.mkdir(parents=True, exist_ok=True)
        env = {**self._base_env(), "F_DATADIR": str(datadir), **spec.env}
        if spec.principal:
            env = self.kafka.env(env, spec.principal)
        with self._lock:
            svc = self.services.get(name)
            if svc is None:
                svc = ServiceProcess(
                    name,
                    spec.argv(),
                    env,
                    self.run_dir / f"{name}.log",
                )
                self.services[name] = svc
            svc.env = env  # a spec changed between lives (the fan-out's resend row)
        svc.start(spec.ready, timeout=120)
        return svc

    def add_worker(self, name: str) -> str:
        """Start one more worker of service `name` in the same consumer group, as
        `name#2`, `name#3`, ... with its own F_DATADIR and log; its name."""
        base = self.specs[name.split("#", 1)[0]]
        n = 2
        while f"{base.name}#{n}" in self.specs:
            n += 1
        extra = f"{base.name}#{n}"
        self.specs[extra] = base
        self.launch(extra)
        return extra

    def retire(self, name: str, *, kill: bool = False) -> None:
        """Stop worker `name` for good (SIGTERM, or SIGKILL with `kill`): it leaves the
        stack, so a row's "every service alive" no longer asks for it."""
        with self._lock:
            svc = self.services.pop(name)
            self.specs.pop(name, None)
        if kill:
            svc.kill()
        else:
            svc.stop(timeout=60)

    def kill(self, name: str) -> None:
        self.services[name].kill()

    def restart(self, name: str) -> float:
        """SIGKILL `name`, start it again; seconds until it said ready."""
        self.kill(name)
        t0 = time.monotonic()
        self.launch(name)
        return time.monotonic() - t0

    # -- brokers -------------------------------------------------------------------------
    def leader_of(self, topic: str, partition: int = 0) -> int:
        """The node id leading `topic`'s partition."""
        admin = KafkaAdminClient(**self.admin.kafka_python())
        try:
            (desc,) = admin.describe_topics([topic])
            for p in desc["partitions"]:
                if p["partition_index"] == partition:
                    return int(p["leader_id"])
        finally:
            admin.close()
        raise LookupError(f"{topic}[{partition}] has no leader")

    def kill_leader(self, topic: str, partition: int = 0) -> tuple[int, float]:
        """SIGKILL the broker leading `topic`[partition] and start it again; (node id,
        seconds until it is an unfenced broker again)."""
        node_id = self.leader_of(topic, partition)
        index = node_id - 1
        self.cluster.stop_node(index, kill=True)
        t0 = time.monotonic()
        self.cluster.start_node(index, wait=True)
        return node_id, time.monotonic() - t0

    def pids(self) -> dict[str, int]:
        return {n: s.proc.pid for n, s in self.services.items() if s.proc is not None}

    def alive(self) -> dict[str, bool]:
        return {n: s.running for n, s in self.services.items()}
