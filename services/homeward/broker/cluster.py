"""Run real Apache Kafka brokers (KRaft, combined broker+controller) from the official jars.

Each node of a :class:`KafkaCluster` is a ``java -cp 'libs/*' kafka.Kafka server.properties``
subprocess listening on 127.0.0.1 with its own data dir, config and logs under the run dir.
The jars come from :func:`homeward.broker.jars.fetch_kafka`.

Typical use::

    with KafkaCluster(nodes=1) as cluster:
        produce_to(cluster.bootstrap_servers)
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from homeward.broker import security as _security
from homeward.broker.jars import (
    BrokerError,
    check_java,
    fetch_kafka,
    kafka_version,
    logging_flavour,
    major_version,
)

log = logging.getLogger(__name__)

#: Name of the JSON state file written into the run dir.
STATE_FILE_NAME = "homeward-broker.json"

_HOST = "127.0.0.1"


# --------------------------------------------------------------------------------------------
# Small helpers


def new_cluster_id() -> str:
    """A cluster id as Kafka's ``Uuid.randomUuid()`` makes them (22 url-safe base64 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):  # Kafka avoids these: they look like CLI options
            return text


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(text.splitlines()[-lines:])


def _error_lines(path: Path, limit: int = 6) -> str:
    """The last ``limit`` ERROR/FATAL lines of a Kafka log (the cause, without stack traces)."""
    found: deque[str] = deque(maxlen=limit)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if "] ERROR " in line or "] FATAL " in line:
                    found.append(line.rstrip()[:500])
    except OSError:
        return ""
    return "\n".join(found)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pdeathsig_preexec() -> Callable[[], None] | None:
    """On Linux, a preexec_fn making the child get SIGTERM when its parent thread dies.

    So a broker does not outlive a killed test run. Caveat (prctl semantics): the signal is
    sent when the *thread* that started the child exits, so start nodes from a long-lived
    thread (the main thread, as pytest and the CLI do), or pass ``die_with_parent=False``.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return preexec


_LOG4J2_PROPERTIES = """\
# Written by homeward.broker.cluster: Kafka (4.x, log4j2) logs to <node>/logs/server.log
status = warn
name = homeward-kafka
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
"""

_LOG4J1_PROPERTIES = """\
# Written by homeward.broker.cluster: Kafka (3.x, reload4j) logs to <node>/logs/server.log
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
"""


# --------------------------------------------------------------------------------------------
# The cluster


@dataclass
class KafkaNode:
    """One broker+controller process of a :class:`KafkaCluster`."""

    index: int
    node_id: int
    port: int
    controller_port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def server_log(self) -> Path:
        """What Kafka itself logs (log4j, INFO)."""
        return self.logs_dir / "server.log"

    @property
    def stdout_log(self) -> Path:
        """The JVM's stdout and stderr (early failures land here)."""
        return self.home / "stdout.log"

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def describe_failure(self) -> str:
        code = None if self.process is None else self.process.poll()
        errors = _error_lines(self.server_log)
        return (
            f"Kafka node {self.node_id} ({self.bootstrap}) exit code {code}; logs in {self.home}\n"
            + (f"--- ERROR/FATAL lines of {self.server_log} ---\n{errors}\n" if errors else "")
            + f"--- tail of {self.stdout_log} ---\n{_tail(self.stdout_log)}\n"
            f"--- tail of {self.server_log} ---\n{_tail(self.server_log)}"
        )


class KafkaCluster:
    """N combined broker+controller Kafka nodes on 127.0.0.1 (default N=1).

    Ports are picked free when the cluster is created and kept for its lifetime, so a node can
    be stopped and started again (:meth:`stop_node` / :meth:`start_node`). All nodes are
    controller voters (static ``controller.quorum.voters``); internal topics are replicated
    ``min(3, nodes)`` times. ``stop()`` keeps the run dir (configs and logs).
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        run_dir: Path | str | None = None,
        version: str | None = None,
        heap: str = "512m",
        startup_timeout: float = 60.0,
        extra_properties: Mapping[str, str] | None = None,
        die_with_parent: bool = True,
        security: str = "plaintext",
    ) -> None:
        if nodes < 1:
            raise ValueError("nodes must be >= 1")
        if security not in ("plaintext", "scram"):
            raise ValueError(f"security: 'plaintext' or 'scram', not {security!r}")
        self.version = version or kafka_version()
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_properties: dict[str, str] = dict(extra_properties or {})
        self.die_with_parent = die_with_parent
        if run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="homeward-kafka-"))
        else:
            self.run_dir = Path(run_dir).expanduser().resolve()
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = new_cluster_id()
        #: With ``security="scram"``: SASL/SCRAM-SHA-512, the standard authorizer, deny by
        #: default (see :mod:`homeward.broker.security`); None for PLAINTEXT.
        self.security: _security.ScramSecurity | None = (
            _security.load_or_create(self.run_dir) if security == "scram" else None
        )
        self.libs: Path | None = None
        self.java: str | None = None
        ports = self._free_ports(2 * nodes)
        self.nodes: list[KafkaNode] = [
            KafkaNode(
                index=i,
                node_id=i + 1,
                port=ports[2 * i],
                controller_port=ports[2 * i + 1],
                home=self.run_dir / f"node-{i + 1}",
            )
            for i in range(nodes)
        ]
        self._formatted = False
        self._atexit_registered = False

    # -- public properties

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated ``host:port`` of every node (running or not)."""
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def state_file(self) -> Path:
        return self.run_dir / STATE_FILE_NAME

    @property
    def replication_factor(self) -> int:
        """What the internal topics use: ``min(3, nodes)``."""
        return min(3, len(self.nodes))

    def admin_client_options(self) -> dict[str, Any]:
        """kafka-python options of a client allowed everything: the bootstrap admin on a
        secured cluster, no credentials on a PLAINTEXT one."""
        opts: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers.split(",")}
        if self.security is not None:
            opts.update(self.security.admin_client_options())
        return opts

    def admin_env(self) -> dict[str, str]:
        """KAFKA_BOOTSTRAP_SERVERS and HOMEWARD_KAFKA_* of the admin (see above)."""
        env = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers}
        if self.security is not None:
            env.update(self.security.admin_env())
        return env

    def log_files(self) -> list[Path]:
        """Every node's Kafka log and JVM stdout log."""
        return [p for node in self.nodes for p in (node.server_log, node.stdout_log)]

    # -- lifecycle

    def start(self) -> KafkaCluster:
        """Fetch jars if needed, format storage once, start every node, wait until all answer."""
        self._prepare()
        try:
            for node in self.nodes:
                if not node.running:
                    self._spawn(node)
            self.wait_ready([n.node_id for n in self.nodes])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every node, wait up to ``timeout`` s, then SIGKILL. Logs are kept."""
        running = [n for n in self.nodes if n.process is not None]
        for node in running:
            self._signal(node, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in running:
            self._reap(node, max(0.1, deadline - time.monotonic()))
        self._write_state()
        if self._atexit_registered:
            atexit.unregister(self._atexit_stop)
            self._atexit_registered = False

    def stop_node(self, index: int, *, timeout: float = 30.0, kill: bool = False) -> None:
        """Stop node ``index`` (0-based): SIGTERM (or SIGKILL with ``kill``), then reap."""
        node = self.nodes[index]
        if node.process is None:
            return
        self._signal(node, signal.SIGKILL if kill else signal.SIGTERM)
        self._reap(node, timeout)
        self._write_state()

    def start_node(self, index: int, *, wait: bool = True) -> None:
        """Start node ``index`` (0-based) again on its old ports and data dir."""
        self._prepare()
        node = self.nodes[index]
        if node.running:
            return
        self._spawn(node)
        if wait:
            self.wait_ready([node.node_id])

    def wait_ready(self, node_ids: list[int] | None = None, timeout: float | None = None) -> None:
        """Wait until the given nodes (default: all) are registered, unfenced brokers.

        Raises :class:`BrokerError` with the tail of the logs if a node's process exits or the
        deadline (default ``startup_timeout``) passes.
        """
        wanted = set(node_ids or [n.node_id for n in self.nodes])
        by_id = {n.node_id: n for n in self.nodes}
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        last_error = "no answer yet"
        while True:
            for node_id in wanted:
                node = by_id[node_id]
                if not node.running:
                    raise BrokerError(f"Kafka process died.\n{node.describe_failure()}")
            ready_on = [by_id[i] for i in sorted(wanted) if _port_open(_HOST, by_id[i].port)]
            if len(ready_on) == len(wanted):
                try:
                    if wanted <= self._unfenced_brokers(ready_on[0].bootstrap):
                        return
                    last_error = "not every node is a registered, unfenced broker yet"
                except Exception as exc:  # any client error just means "not yet"
                    last_error = f"{type(exc).__name__}: {exc}"
            else:
                last_error = "listener port not open yet"
            if time.monotonic() >= deadline:
                details = "\n".join(by_id[i].describe_failure() for i in sorted(wanted))
                raise BrokerError(
                    f"Kafka not ready after {self.startup_timeout:.0f}s ({last_error}).\n{details}"
                )
            time.sleep(0.25)

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"KafkaCluster(version={self.version!r}, nodes={len(self.nodes)}, "
            f"bootstrap={self.bootstrap_servers!r}, run_dir={str(self.run_dir)!r})"
        )

    # -- internals

    @staticmethod
    def _free_ports(count: int) -> list[int]:
        # Racy (closed before the JVM binds), but a port taken meanwhile fails start() naming it.
        # Hold every socket open until all are picked so the ports are distinct.
        with contextlib.ExitStack() as stack:
            ports = []
            for _ in range(count):
                sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind((_HOST, 0))
                ports.append(int(sock.getsockname()[1]))
            return ports

    def _prepare(self) -> None:
        if self.java is None:
            self.java, _ = check_java()
        if self.libs is None:
            self.libs = fetch_kafka(self.version)
        if not self._formatted:
            self._write_logging_config()
            for node in self.nodes:
                self._write_server_properties(node)
                self._format(node)
            self._formatted = True

    def _properties(self, node: KafkaNode) -> dict[str, str]:
        n = len(self.nodes)
        rf = str(self.replication_factor)
        voters = ",".join(f"{x.node_id}@{_HOST}:{x.controller_port}" for x in self.nodes)
        listeners = f"PLAINTEXT://{_HOST}:{node.port},CONTROLLER://{_HOST}:{node.controller_port}"
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{node.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "num.partitions": "1",
            "default.replication.factor": rf,
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": str(min(2, n)),
            "transaction.state.log.num.partitions": "10",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            "num.network.threads": "3",
            "num.io.threads": "4",
            "log.retention.hours": "168",
        }
        if major_version(self.version) >= 4:
            props["share.coordinator.state.topic.replication.factor"] = rf
            props["share.coordinator.state.topic.min.isr"] = str(min(2, n))
        if self.security is not None:
            props.update(self.security.properties(_HOST, node.port, node.controller_port))
        props.update(self.extra_properties)
        return props

    def _write_server_properties(self, node: KafkaNode) -> None:
        node.home.mkdir(parents=True, exist_ok=True)
        node.logs_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by homeward.broker.cluster"]
        lines += [f"{k}={v}" for k, v in self._properties(node).items()]
        node.config_file.write_text("\n".join(lines) + "\n")

    def _logging_config(self) -> Path:
        if logging_flavour(self.version) == "log4j2":
            return self.run_dir / "log4j2.properties"
        return self.run_dir / "log4j.properties"

    def _write_logging_config(self) -> None:
        path = self._logging_config()
        if logging_flavour(self.version) == "log4j2":
            path.write_text(_LOG4J2_PROPERTIES)
        else:
            path.write_text(_LOG4J1_PROPERTIES)

    def _jvm_args(self, node: KafkaNode) -> list[str]:
        assert self.java is not None and self.libs is not None
        logging_conf = self._logging_config()
        if logging_flavour(self.version) == "log4j2":
            log_opt = f"-Dlog4j2.configurationFile={logging_conf}"
        else:
            log_opt = f"-Dlog4j.configuration=file:{logging_conf}"
        return [
            self.java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={node.logs_dir}",
            log_opt,
            "-cp",
            f"{self.libs}/*",
        ]

    def _format(self, node: KafkaNode) -> None:
        meta = node.data_dir / "meta.properties"
        if meta.is_file():  # an existing run dir: keep its data and its cluster id
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    self.cluster_id = line.split("=", 1)[1].strip()
            return
        cmd = [
            *self._jvm_args(node),
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(node.config_file),
            "--cluster-id",
            self.cluster_id,
            "--ignore-formatted",
            *(self.security.format_args() if self.security is not None else []),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        (node.home / "format.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise BrokerError(
                f"kafka.tools.StorageTool format failed (exit {proc.returncode}) for node "
                f"{node.node_id}:\n{(proc.stdout + proc.stderr)[-4000:]}"
            )

    def _spawn(self, node: KafkaNode) -> None:
        cmd = [*self._jvm_args(node), "kafka.Kafka", str(node.config_file)]
        with open(node.stdout_log, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd)}\n".encode())
            out.flush()
            node.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=node.home,
                start_new_session=True,  # a Ctrl-C on the terminal reaches us, not the JVM
                preexec_fn=pdeathsig_preexec() if self.die_with_parent else None,
            )
        log.info(
            "started Kafka node %s pid %s on %s", node.node_id, node.process.pid, node.bootstrap
        )
        if not self._atexit_registered:
            atexit.register(self._atexit_stop)
            self._atexit_registered = True
        self._write_state()

    def _atexit_stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=15.0)

    @staticmethod
    def _signal(node: KafkaNode, sig: signal.Signals) -> None:
        if node.process is not None and node.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                node.process.send_signal(sig)

    @staticmethod
    def _reap(node: KafkaNode, timeout: float) -> None:
        proc = node.process
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("Kafka node %s did not stop in %.0fs: SIGKILL", node.node_id, timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=30)
        node.process = None

    def _unfenced_brokers(self, bootstrap: str) -> set[int]:
        from kafka import KafkaAdminClient  # kafka-python

        opts = self.admin_client_options()
        opts["bootstrap_servers"] = [bootstrap]
        admin = KafkaAdminClient(
            **opts,
            client_id="homeward-harness",
            request_timeout_ms=3000,
            bootstrap_timeout_ms=3000,
        )
        try:
            info: dict[str, Any] = admin.describe_cluster()
        finally:
            admin.close()
        ids: set[int] = set()
        for broker in info.get("brokers", []):
            if broker.get("is_fenced", False):
                continue
            node_id = broker.get("broker_id", broker.get("node_id"))
            if node_id is not None:
                ids.add(int(node_id))
        return ids

    def state(self) -> dict[str, Any]:
        """What the state file holds."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "run_dir": str(self.run_dir),
            "version": self.version,
            "cluster_id": self.cluster_id,
            "security": "scram" if self.security is not None else "plaintext",
            # The admin's password is in admin.properties (0600), never here.
            "admin_user": self.security.admin_user if self.security is not None else None,
            "pids": [n.process.pid for n in self.nodes if n.process is not None and n.running],
            "nodes": [
                {
                    "node_id": n.node_id,
                    "bootstrap": n.bootstrap,
                    "controller_port": n.controller_port,
                    "pid": n.process.pid if n.process is not None and n.running else None,
                    "server_log": str(n.server_log),
                    "stdout_log": str(n.stdout_log),
                }
                for n in self.nodes
            ],
        }

    def _write_state(self) -> None:
        if self.security is not None:
            self.security.write_admin_file(self.run_dir, self.bootstrap_servers)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state(), indent=2) + "\n")
        tmp.replace(self.state_file)


def read_state(run_dir: Path | str) -> dict[str, Any]:
    """Read the JSON state file another process's cluster wrote into ``run_dir``."""
    data: dict[str, Any] = json.loads((Path(run_dir) / STATE_FILE_NAME).read_text())
    return data


@contextlib.contextmanager
def running_cluster(nodes: int = 1, **kwargs: Any) -> Iterator[KafkaCluster]:
    """``with running_cluster(3) as c:`` — a started :class:`KafkaCluster`, stopped on exit."""
    cluster = KafkaCluster(nodes, **kwargs)
    with cluster:
        yield cluster
