"""Helpers for integration tests: run a service as a subprocess, and read
topics until a condition holds (bounded by a deadline, never a sleep)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from homeward.codec import Codec, Decoded
from homeward.settings import KafkaSettings
from homeward_demo.processes import ServiceProcess


def service(args: list[str], env: dict[str, str], log_path: Path) -> ServiceProcess:
    # Faust keeps scratch data in the working directory unless told otherwise.
    env = {"F_DATADIR": str(log_path.with_suffix(".faust-data")), **env}
    return ServiceProcess(name=args[-1], args=args, env=env, log_path=log_path)


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
