"""Helpers for integration tests: run a service as a subprocess, and read
topics until a condition holds (bounded by a deadline, never a sleep)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from homeward.codec import Codec, Decoded
from homeward.settings import KafkaSettings


@dataclass
class Service:
    """A service subprocess whose output is kept and scanned for a ready line."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    lines: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self, ready_marker: str, timeout: float = 90) -> Service:
        self.lines.clear()
        self._ready.clear()
        self.proc = subprocess.Popen(
            [sys.executable, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, args=(ready_marker,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise AssertionError(
                f"{self.args} not ready in {timeout}s; log: {self.log_path}\n"
                + "".join(self.lines[-40:])
            )
        return self

    def _pump(self, marker: str) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace")
                self.lines.append(line)
                log.write(line)
                log.flush()
                if marker in line:
                    self._ready.set()

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to commit or flush anything."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class TopicReader:
    """Reads topics from the beginning and keeps everything decoded so far."""

    def __init__(self, settings: KafkaSettings, topics: Iterable[str], codec: Codec | None = None):
        self.codec = codec or Codec()
        self.consumer = KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"test-reader-{uuid.uuid4().hex[:6]}",
            **settings.kafka_python(),
        )
        parts = []
        for t in topics:
            ps = None
            deadline = time.monotonic() + 30
            while not ps and time.monotonic() < deadline:
                ps = self.consumer.partitions_for_topic(t)
                if not ps:
                    self.consumer.poll(timeout_ms=100)
            assert ps, f"topic {t} not found"
            parts += [TopicPartition(t, p) for p in ps]
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning()
        self.records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        self.decoded: list[tuple[str, Decoded]] = []

    def poll(self) -> None:
        for tp, msgs in self.consumer.poll(timeout_ms=200).items():
            for m in msgs:
                headers = list(m.headers or [])
                self.records.append((tp.topic, m.key, m.value, headers))
                with contextlib.suppress(Exception):
                    self.decoded.append((tp.topic, self.codec.decode(m.value, headers)))

    def until(
        self, cond: Callable[[TopicReader], bool], timeout: float = 60, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not cond(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
            self.poll()

    def close(self) -> None:
        self.consumer.close()
