"""Run Homeward services as child processes, each in its own session, with
their output kept in a log file and scanned for the line that says ready.
Used by the demo and by the integration tests."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from homeward.broker.cluster import pdeathsig_preexec
from homeward.topology.acls import apply_acls
from homeward.topology.principals import load_principals
from homeward.topology.users import apply_users, password_env_name


class _Spawner:
    """Forks every child from one thread that lives as long as the process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the
    process: a service started from a pool's worker thread (the fault suite starts
    and restarts them side by side) would be killed when that thread ends."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Future[subprocess.Popen[bytes]], dict[str, Any]]] = (
            queue.Queue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, **kw: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((done, kw))
        return done.result()

    def _run(self) -> None:
        while True:
            done, kw = self._jobs.get()
            try:
                done.set_result(subprocess.Popen(**kw))
            except BaseException as exc:  # the caller re-raises it
                done.set_exception(exc)


_SPAWNER = _Spawner()


@dataclass
class ServiceProcess:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    on_line: Callable[[str], None] | None = None
    proc: subprocess.Popen[bytes] | None = None
    lines: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _pumped: threading.Event = field(default_factory=threading.Event)
    _marker: str = ""

    def start(self, ready_marker: str, timeout: float = 90) -> ServiceProcess:
        """Start `python <args>` and wait for a line containing ready_marker."""
        # Fresh ones for this life: the pump of a killed predecessor may still be draining.
        self.lines = []
        self._ready = threading.Event()
        self._pumped = threading.Event()
        self._marker = ready_marker
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = _SPAWNER.popen(
            args=[sys.executable, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches only the parent
            # A demo killed outright (SIGKILL, a test's timeout) takes its services with it.
            preexec_fn=pdeathsig_preexec(),
        )
        threading.Thread(
            target=self._pump,
            args=(self.proc, self.lines, self._ready, self._pumped),
            daemon=True,
            name=f"pump-{self.name}",
        ).start()
        deadline = time.monotonic() + timeout
        # Until ready, or its output ends (it exited: no point waiting out the timeout).
        while not self._ready.wait(0.2):
            if self._pumped.is_set() or time.monotonic() > deadline:
                tail = "".join(self.lines[-40:])
                self.stop()
                why = "exited" if self._pumped.is_set() else f"not ready in {timeout}s"
                raise RuntimeError(f"{self.name} {why} (log {self.log_path}):\n{tail}")
        return self

    def _pump(
        self,
        proc: subprocess.Popen[bytes],
        lines: list[str],
        ready: threading.Event,
        pumped: threading.Event,
    ) -> None:
        assert proc.stdout is not None
        marker = self._marker
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                lines.append(line)
                log.write(line)
                log.flush()
                if marker and marker in line:
                    ready.set()
                if self.on_line:
                    self.on_line(line)
        pumped.set()

    def ready_line(self) -> str:
        return next((ln.strip() for ln in self.lines if self._marker in ln), "")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to commit, flush or say goodbye."""
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


# -- Kafka identities: each service process runs as its own principal --------------------

KAFKA_CREDENTIAL_ENV = (
    "HOMEWARD_KAFKA_SECURITY_PROTOCOL",
    "HOMEWARD_KAFKA_SASL_MECHANISM",
    "HOMEWARD_KAFKA_SASL_USERNAME",
    "HOMEWARD_KAFKA_SASL_PASSWORD",
)


@dataclass(frozen=True)
class KafkaIdentities:
    """The admin's settings and, on a secured broker, every declared principal's password."""

    admin: Any  # homeward.settings.KafkaSettings (the admin's, with the topic prefix)
    passwords: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def secured(self) -> bool:
        return bool(self.passwords)

    def env(self, base: dict[str, str], principal: str) -> dict[str, str]:
        """`base` with the Kafka credentials of `principal` (the admin's when unsecured)."""
        env = {k: v for k, v in base.items() if k not in KAFKA_CREDENTIAL_ENV}
        if not self.secured:
            env["HOMEWARD_KAFKA_SECURITY_PROTOCOL"] = self.admin.security_protocol
            return env
        env.update(
            HOMEWARD_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
            HOMEWARD_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
            HOMEWARD_KAFKA_SASL_USERNAME=principal,
            HOMEWARD_KAFKA_SASL_PASSWORD=self.passwords[principal],
        )
        return env

    def settings(self, principal: str) -> Any:
        """In-process client settings of `principal`."""
        if not self.secured:
            return self.admin
        return self.admin.model_copy(
            update={
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": principal,
                "sasl_password": SecretStr(self.passwords[principal]),
            }
        )


def create_identities(settings: Any, topology: Any) -> KafkaIdentities:
    """Create every declared principal (passwords from HOMEWARD_KAFKA_PASSWORD_<NAME>, else
    random for this run) and its grants, when the admin is a SASL user; else none.
    `settings`: the admin's KafkaSettings; `topology`: the Topology to grant on."""
    if not settings.sasl_username:
        return KafkaIdentities(settings)
    principals = load_principals()
    passwords = {
        p.name: os.environ.get(password_env_name(p.name)) or uuid.uuid4().hex for p in principals
    }
    apply_users(principals, passwords, settings)
    apply_acls(topology, settings, principals)
    return KafkaIdentities(settings, passwords)
