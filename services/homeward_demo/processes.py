"""Run Homeward services as child processes, each in its own session, with
their output kept in a log file and scanned for the line that says ready.
Used by the demo and by the integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from homeward.broker.cluster import pdeathsig_preexec


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
        self.lines.clear()
        self._ready.clear()
        self._pumped.clear()
        self._marker = ready_marker
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches only the parent
            # A demo killed outright (SIGKILL, a test's timeout) takes its services with it.
            preexec_fn=pdeathsig_preexec(),
        )
        threading.Thread(target=self._pump, daemon=True, name=f"pump-{self.name}").start()
        if not self._ready.wait(timeout):
            tail = "".join(self.lines[-40:])
            self.stop()
            raise RuntimeError(
                f"{self.name} not ready in {timeout}s (log {self.log_path}):\n{tail}"
            )
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace")
                self.lines.append(line)
                log.write(line)
                log.flush()
                if self._marker and self._marker in line:
                    self._ready.set()
                if self.on_line:
                    self.on_line(line)
        self._pumped.set()

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
